"""/cart: see the cart, add from a product page, change quantities, remove, apply a discount code."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from catalog.params import is_slug
from catalog.shop_routes import render_product
from store.cart import service
from store.cart.models import MAX_QUANTITY, Cart
from store.checkout import discounts
from store.db import commit_writes, get_engine, run_writing_unit, unit_of_work
from store.deps import Db, WriteDb
from store.errors import DomainError
from store.news.beside import BuyState
from store.news.routes import render_buy_beside
from store.web import is_htmx, redirect, render

router = APIRouter()

NEXT_PAGES = {"/cart", "/checkout"}
# Every field is read as text and checked by the service, so "abc" or "-1" gets our own message.
FormText = Annotated[str, Form()]
NextField = Annotated[str, Form(alias="next")]


def cart_page(
    request: Request,
    db: Db,
    cart: Cart | None,
    *,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
    discount_code: str = "",
    notice: str | None = None,
) -> Response:
    """The cart page, or (for htmx) its `cart` block with the header's count out of band."""
    from store.checkout.service import summarise

    summary = summarise(db, cart=cart, country="GB")
    items = service.items(db, cart)
    count = service.item_count(db, cart)
    response = render(
        request,
        "cart/cart.html",
        {
            "items": items,
            "summary": summary,
            "quote": summary.quote,
            "errors": errors or {},
            "discount_code": discount_code or (cart.discount_code if cart else "") or "",
            "max_quantity": MAX_QUANTITY,
            "cart_count": count,
            "notice": notice,
            "hx_block": "cart",
        },
        status_code=status_code,
    )
    service.set_cart_cookie(request, response, cart, count)
    response.headers["Cache-Control"] = "no-store"
    return response


def _after_change(request: Request, db: Db, cart: Cart, message: str | None) -> Response:
    """POST → 303 → GET /cart; for htmx, the cart's fragment at once (after the commit)."""
    db.flush()
    if not is_htmx(request):
        response = redirect("/cart", message)
        service.set_cart_cookie(request, response, cart, service.item_count(db, cart))
        return response
    # Let the write lock go before rendering: the fragment is read in a transaction of its own.
    db.commit()
    with unit_of_work(get_engine(), write=False) as read:
        return cart_page(request, read, cart, notice=message)


@router.get("/cart", name="cart.view")
def view(request: Request, db: Db) -> Response:
    # Reads without the write lock; settling a cart whose order was paid in another tab is the rare
    # write (conditional, see service.settle), and only then is the lock taken.
    cart = service.cart_for_request(db, request)
    if cart is not None:
        request.state.cart_count = service.item_count(db, cart)
    return cart_page(request, db, cart)


ADD_FIELDS = ("quantity", "sku", "product", "size", "colour", "from", "next")


def _add_form_schema() -> dict[str, object]:
    """What /docs shows for the add form: the handler reads the form itself, so FastAPI cannot."""
    text = {"type": "string"}
    described = {
        "csrf_token": "the form's CSRF token (its cookie goes with it)",
        "sku": "the variant's SKU; or give product, size and colour",
        "product": "the product's slug, with size and colour",
        "size": "a size the product offers",
        "colour": "a colour the product offers",
        "quantity": "1 to 20 (the most of one item in a cart is 20)",
        "from": "the story's slug, when the form sits beside a story",
        "next": "/news/{from} to stay on the story; else the answer is the cart",
    }
    schema = {
        "type": "object",
        "required": ["csrf_token", "quantity"],
        "properties": {name: {**text, "description": about} for name, about in described.items()},
    }
    return {
        "requestBody": {
            "required": True,
            "content": {"application/x-www-form-urlencoded": {"schema": schema}},
        }
    }


@router.post("/cart/add", name="cart.add", openapi_extra=_add_form_schema())
async def add(request: Request) -> Response:
    """Add to cart: the write a rush makes most. It reads the form itself (FastAPI's seven Form
    parameters cost more than the SQL) and runs as one unit on the event loop or in a worker thread
    (store.db.run_writing_unit says which and why), letting the write lock go before the answer."""
    form = await request.form()  # parsed once already, by the CSRF check
    # Only these fields are read, each as text checked by the service (so "abc" or "-1" gets our own
    # message): a price, VAT or total in the form is ignored.
    fields = {name: value if isinstance(value := form.get(name), str) else "" for name in ADD_FIELDS}
    return await run_writing_unit(lambda wait: _add(request, fields, wait))


def _add(request: Request, fields: dict[str, str], wait: float | None) -> Response:
    # `next` is the story's own address when the form sits beside the story: the shopper stays there.
    slug = fields["from"]
    story = slug if is_slug(slug) and fields["next"] == f"/news/{slug}" else None
    values = {name: fields[name] for name in ("size", "colour", "quantity", "from")}
    with unit_of_work(get_engine(), write=False) as db:
        try:
            planned = service.plan_add(
                db,
                request,
                quantity=fields["quantity"],
                sku=fields["sku"] or None,
                product_slug=fields["product"] or None,
                options={"size": fields["size"], "colour": fields["colour"]},
                from_article=slug or None,
            )
            added = commit_writes(db, lambda: service.write_add(db, planned), wait=wait)
        except DomainError as exc:
            errors = exc.errors if isinstance(exc, service.AddRefused) else {exc.field or "add": exc.message}
            return _add_refused(
                request, db, errors, values, sku=fields["sku"], product_slug=fields["product"], story=story
            )
        if story is None:
            response = redirect("/cart", f"Added to your cart ({added.quantity} in total).")
            service.set_cart_cookie(request, response, added.cart, added.count)
            return response
        return _added_beside_story(request, db, added, story, product_slug=fields["product"], values=values)


def _add_refused(
    request: Request,
    db: Db,
    errors: dict[str, str],
    values: dict[str, str],
    *,
    sku: str,
    product_slug: str,
    story: str | None,
) -> Response:
    """422 with the form the shopper used, their values kept and each error by its field: the story
    with that product's form, or the product page. The cart is as it was."""
    # Nothing of a refused add is kept, and the write lock (taken if the refusal came from a write:
    # the most per item) is let go before the page is rendered; reads after it take no lock.
    db.rollback()
    found = service.product_for_form(db, sku=sku, product_slug=product_slug)
    if found is None:  # not from one of our forms (an unknown SKU): the cart, with the message
        cart = service.cart_for_request(db, request)
        message = next(iter(errors.values()))
        return cart_page(request, db, cart, errors={"add": message}, status_code=422)
    shown, options = found
    values = {**values, **options}
    if story is not None:
        state = BuyState(slug=shown.slug, values=values, errors=errors)
        answer = render_buy_beside(request, db, story, state, status_code=422)
        if answer is not None:
            return answer
    return render_product(request, db, shown, values=values, errors=errors, status_code=422)


def _added_beside_story(
    request: Request,
    db: Db,
    added: service.Added,
    story: str,
    *,
    product_slug: str,
    values: dict[str, str],
) -> Response:
    """Back to the story: 303 with a flash message, or (htmx) the product's box saying so."""
    message = service.added_message(db, added)
    if not is_htmx(request):
        response = redirect(f"/news/{story}", message)
        service.set_cart_cookie(request, response, added.cart, added.count)
        return response
    request.state.cart_count = added.count  # the header's count in the answer
    kept = {"size": values["size"], "colour": values["colour"]}
    state = BuyState(slug=product_slug, values=kept, added=message)
    answer = render_buy_beside(request, db, story, state)
    if answer is None:  # the story stopped showing that product meanwhile: the cart then
        answer = cart_page(request, db, db.get(Cart, added.cart.id), notice=message)
    service.set_cart_cookie(request, answer, added.cart, added.count)
    return answer


@router.post("/cart/lines/{line_id}", name="cart.update")
def update(request: Request, line_id: int, db: WriteDb, quantity: FormText = "") -> Response:
    cart = service.cart_for_request(db, request)
    if cart is None:
        return _expired(request, db)
    try:
        service.set_quantity(db, cart=cart, line_id=line_id, quantity=quantity)
    except DomainError as exc:
        # Nothing changed: let the write lock go before rendering (the cart kept as loaded, not
        # expired by the rollback, which would load it again under a new lock).
        db.expunge(cart)
        db.rollback()
        with unit_of_work(get_engine(), write=False) as read:
            errors = {f"quantity-{line_id}": exc.message}
            return cart_page(request, read, cart, errors=errors, status_code=422)
    return _after_change(request, db, cart, "Quantity updated.")


@router.post("/cart/lines/{line_id}/remove", name="cart.remove")
def remove(request: Request, line_id: int, db: WriteDb) -> Response:
    cart = service.cart_for_request(db, request)
    if cart is None:
        return _expired(request, db)
    service.remove(db, cart=cart, line_id=line_id)
    return _after_change(request, db, cart, "Removed from your cart.")


@router.post("/cart/discount", name="cart.discount")
def apply_discount(
    request: Request, db: WriteDb, discount_code: FormText = "", next_page: NextField = ""
) -> Response:
    back = next_page
    back = back if back in NEXT_PAGES else "/cart"
    code = discounts.normalise(discount_code)
    cart = service.cart_for_request(db, request)
    if cart is None or not service.lines(db, cart):
        return cart_page(
            request, db, cart, errors={"discount_code": "Add something to your cart first."}, status_code=422
        )
    if not code:
        error = "Enter a discount code."
    else:
        subtotal = sum((item.line_total.amount if item.line_total else 0) for item in service.items(db, cart))
        try:
            discounts.check_for_cart(db, cart=cart, code=code, subtotal=subtotal)
        except DomainError as exc:
            error = exc.message
        else:
            cart.discount_code = code
            db.add(cart)
            return _redirect_to(request, db, cart, back, f"Discount code {code} applied.")
    if back == "/checkout":
        from store.checkout.routes import checkout_page

        return checkout_page(
            request, db, cart, errors={"discount_code": error}, status_code=422, discount_code=code
        )
    return cart_page(request, db, cart, errors={"discount_code": error}, status_code=422, discount_code=code)


@router.post("/cart/discount/remove", name="cart.discount_remove")
def remove_discount(request: Request, db: WriteDb, next_page: NextField = "") -> Response:
    back = next_page
    cart = service.cart_for_request(db, request)
    if cart is not None:
        cart.discount_code = None
        db.add(cart)
    return redirect(back if back in NEXT_PAGES else "/cart", "Discount code removed.")


def _expired(request: Request, db: Db) -> Response:
    message = "Your cart has expired. Please add the items again."
    if is_htmx(request):
        return cart_page(request, db, None, notice=message)
    return redirect("/cart", message, "error")


def _redirect_to(request: Request, db: Db, cart: Cart, url: str, message: str) -> Response:
    response = redirect(url, message)
    service.set_cart_cookie(request, response, cart, service.item_count(db, cart))
    return response
