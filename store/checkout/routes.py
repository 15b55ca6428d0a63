"""/checkout: delivery details → the pending order → card payment → thank you. Staff: discounts, shipping."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import JSONResponse, Response
from sqlmodel import select

from store import throttle
from store.auth.models import Role, StaffUser
from store.cart import service as carts
from store.cart.models import Cart
from store.checkout import discounts, payments, rates, service, shipping
from store.checkout.models import Discount
from store.db import commit_writes
from store.deps import Db, require_role
from store.errors import DomainError, NotFound
from store.money import Money
from store.order.models import Order
from store.throttle import CheckoutCardAttempt
from store.web import redirect, render

log = logging.getLogger("store.checkout")
router = APIRouter()

FormText = Annotated[str, Form()]
CatalogueStaff = Annotated[StaffUser, Depends(require_role(Role.catalogue))]
Owner = Annotated[StaffUser, Depends(require_role(Role.owner))]


# --- pages ---------------------------------------------------------------------------------------


def checkout_page(
    request: Request,
    db: Db,
    cart: Cart | None,
    *,
    form: service.AddressForm | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
    discount_code: str = "",
) -> Response:
    if form is None:
        order = service.pending_order(db, cart)
        form = service.AddressForm.from_order(order) if order else service.AddressForm()
        form.round_up = bool(cart and cart.round_up)
        wanted = request.query_params.get("country", "").upper()
        if wanted in shipping.COUNTRY_NAMES:
            form.country = wanted
    summary = service.summarise(db, cart=cart, country=form.country)
    all_errors = dict(form.errors)
    all_errors.update(errors or {})
    response = render(
        request,
        "checkout/checkout.html",
        {
            "form": form,
            "errors": all_errors,
            "summary": summary,
            "quote": summary.quote,
            "countries": shipping.COUNTRIES,
            "rates": {code: Money(rate) for code, rate in shipping.flat_rates(db).items()},
            "zones": shipping.ZONES,
            "discount_code": discount_code or (cart.discount_code if cart else "") or "",
            "hx_block": "summary",
        },
        status_code=status_code,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/checkout", name="checkout.form")
def checkout_form(request: Request, db: Db) -> Response:
    cart = carts.cart_for_request(db, request)
    if cart is None or not carts.lines(db, cart):
        return redirect("/cart", "Your cart is empty.")
    return checkout_page(request, db, cart)


@router.post("/checkout", name="checkout.submit")
def checkout_submit(
    request: Request,
    db: Db,
    email: FormText = "",
    full_name: FormText = "",
    address_line1: FormText = "",
    address_line2: FormText = "",
    town: FormText = "",
    postcode: FormText = "",
    country: FormText = "",
    round_up: FormText = "",
) -> Response:
    # Sync: the database work blocks, so it runs in the thread pool rather than on the event loop.
    # The order is priced without the write lock (on SQLite every other writer waited ~30 ms a
    # checkout while it priced the cart under the lock in a rush: bench/rush.py's gate stats); only
    # its writes hold the lock, after checking that the cart still holds what was priced.
    form = service.AddressForm.from_mapping(
        {
            "email": email,
            "full_name": full_name,
            "address_line1": address_line1,
            "address_line2": address_line2,
            "town": town,
            "postcode": postcode,
            "country": country,
            "round_up": round_up,
        }
    )
    valid = service.validate_address(form)
    # The provider's live rate BEFORE this request's transaction begins (db is untouched so far).
    live = (
        rates.live_shipping(rates.cart_token(request.cookies.get(carts.CART_COOKIE)), form) if valid else None
    )
    cart = carts.cart_for_request(db, request)
    if cart is None or not carts.lines(db, cart):
        return redirect("/cart", "Your cart is empty.")
    if valid:
        try:
            with db.no_autoflush:  # the round-up choice is written with the order, not before it
                cart.round_up = form.round_up
                planned = service.plan_order(db, cart=cart, form=form, live_shipping=live)
            commit_writes(db, lambda: service.write_order(db, cart=cart, planned=planned))
            return redirect("/checkout/pay")
        except DomainError as exc:
            db.rollback()  # nothing of the order is kept
            errors = {exc.field or "order": exc.message}
            if exc.field == "discount_code":
                cart.discount_code = None  # shown next to the field; the shopper sees the new total
    else:
        errors = {}
    cart.round_up = form.round_up  # kept for the form shown again, written before it is rendered
    commit_writes(db, lambda: db.add(cart))
    return checkout_page(request, db, cart, form=form, errors=errors, status_code=422)


@router.get("/checkout/pay", name="checkout.payment")
def payment_page(request: Request, db: Db) -> Response:
    cart = carts.cart_for_request(db, request)
    order = service.pending_order(db, cart)
    if cart is None or order is None:
        return redirect("/checkout" if cart is not None and carts.lines(db, cart) else "/cart")
    lines = service.order_lines(db, order)
    summary = service.summarise(db, cart=cart, country=order.country)
    products = [line for line in lines if line.kind == "product"]
    if service.lines_key(products) != service.lines_key(summary.quote.lines) or (
        summary.quote.discount_code or None
    ) != (order.discount_code or None):
        return redirect(
            "/checkout", "Your cart changed. Please check your order and continue to payment again."
        )
    response = render(
        request,
        "checkout/pay.html",
        {
            "order": order,
            "lines": lines,
            "country_name": shipping.COUNTRY_NAMES.get(order.country, order.country),
        },
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/checkout/complete/{token}", name="checkout.complete")
def complete(request: Request, token: str, db: Db) -> Response:
    order = db.exec(select(Order).where(Order.token == token)).first()
    if order is None:
        raise NotFound("We couldn't find that order.")
    cart = carts.cart_for_request(db, request)  # settles a cart whose order is now paid
    count = carts.item_count(db, cart)
    response = render(
        request,
        "checkout/complete.html",
        {
            "order": order,
            "lines": service.order_lines(db, order),
            "paid": order.status in payments.SETTLED_STATUSES,
            "country_name": shipping.COUNTRY_NAMES.get(order.country, order.country),
        },
    )
    carts.set_cart_cookie(request, response, cart, count)
    response.headers["Cache-Control"] = "no-store"
    return response


# --- card payment (JSON for static/js/card-payment.js; store.checkout.payments does the work) -----

# What each outcome answers: 200 for what Stripe said about the card, 4xx for the shopper's input or
# a changed order, 502/503 only when Stripe itself failed or could not be reached.
PAY_HTTP_STATUS = {"bad_input": 400, "expired": 404, "conflict": 409, "unavailable": 503, "error": 502}


def _json(body: dict[str, Any], status_code: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status_code, headers={"Cache-Control": "no-store"})


@router.post("/checkout/card/setup", name="checkout.card_setup")
def card_setup(card_attempt: CheckoutCardAttempt, order: Annotated[str, Form()] = "") -> JSONResponse:
    outcome = payments.setup_card(order_token=order)
    if outcome.status == "ready":
        return _json({"client_secret": outcome.client_secret})
    if outcome.status == "succeeded":
        return _json({"status": "succeeded", "redirect": outcome.redirect})
    return _json(
        {"message": outcome.message}, {"expired": 404, "conflict": 409, "unavailable": 503}[outcome.status]
    )


@router.post("/checkout/card/pay", name="checkout.card_pay")
def card_pay(
    request: Request,
    card_attempt: CheckoutCardAttempt,
    order: Annotated[str, Form()] = "",
    amount: Annotated[str, Form()] = "",
    payment_method: Annotated[str, Form()] = "",
    payment_intent: Annotated[str, Form()] = "",
) -> JSONResponse:
    """Pay for the order with a pm_…, or after 3-D Secure ask how its intent ended."""
    outcome = payments.pay_order(
        order_token=order, amount=amount, payment_method=payment_method, payment_intent=payment_intent
    )
    # A decline counts double against card testing; so does a payment method Stripe never issued.
    throttle.record_outcome(request, "failed" if outcome.stripe_refused else outcome.status)
    if outcome.status == "succeeded":
        response = _json({"status": "succeeded", "redirect": outcome.redirect})
        decoded = carts.decode_cookie(request.cookies.get(carts.CART_COOKIE))
        if decoded is not None:
            carts.set_cart_cookie(request, response, carts.CartRef(None, decoded[0]), 0)
        return response
    if outcome.status == "requires_action":
        return _json(
            {
                "status": "requires_action",
                "client_secret": outcome.client_secret,
                "payment_intent": outcome.payment_intent,
            }
        )
    if outcome.status == "failed":
        return _json({"status": "failed", "message": outcome.message})
    status_code = 422 if outcome.stripe_refused else PAY_HTTP_STATUS[outcome.status]
    return _json({"message": outcome.message}, status_code)


# --- staff: discounts (catalogue) and shipping (owner) -------------------------------------------


def _discounts_page(
    request: Request, db: Db, form: discounts.DiscountForm, status_code: int = 200
) -> Response:
    return render(
        request,
        "staff/discounts.html",
        {"form": form, "errors": form.errors, "discounts": discounts.all_discounts(db)},
        status_code=status_code,
    )


@router.get("/staff/discounts", name="checkout.staff_discounts")
def staff_discounts(request: Request, db: Db, user: CatalogueStaff) -> Response:
    return _discounts_page(request, db, discounts.DiscountForm())


@router.post("/staff/discounts", name="checkout.staff_discount_create")
def staff_discount_create(
    request: Request,
    db: Db,
    user: CatalogueStaff,
    code: FormText = "",
    kind: FormText = "",
    percent_off: FormText = "",
    amount_off: FormText = "",
    min_spend: FormText = "",
    expires: FormText = "",
    usage_limit: FormText = "",
) -> Response:
    form = discounts.DiscountForm(
        code=code,
        kind=kind or "percent",
        percent_off=percent_off,
        amount_off=amount_off,
        min_spend=min_spend,
        expires=expires,
        usage_limit=usage_limit,
    )
    created = discounts.create_from_form(db, form=form)
    if created is None:
        return _discounts_page(request, db, form, status_code=422)
    log.info("discount created", extra={"code": created.code, "staff": user.email})
    return redirect("/staff/discounts", f"Discount code {created.code} saved.")


@router.post("/staff/discounts/{discount_id}/active", name="checkout.staff_discount_active")
def staff_discount_active(
    request: Request, discount_id: int, db: Db, user: CatalogueStaff, active: FormText = ""
) -> Response:
    on = active == "1"
    found = discounts.set_active(db, discount_id=discount_id, active=on)
    return redirect("/staff/discounts", f"{found.code} {'switched on' if on else 'switched off'}.")


@router.get("/staff/shipping", name="checkout.staff_shipping")
def staff_shipping(request: Request, db: Db, user: Owner) -> Response:
    rates = {code: Money(rate).to_major() for code, rate in shipping.flat_rates(db).items()}
    return render(request, "staff/shipping.html", {"zones": shipping.ZONES, "values": rates, "errors": {}})


@router.post("/staff/shipping", name="checkout.staff_shipping_save")
def staff_shipping_save(
    request: Request,
    db: Db,
    user: Owner,
    rate_uk: FormText = "",
    rate_europe: FormText = "",
    rate_world: FormText = "",
) -> Response:
    data = {"rate_uk": rate_uk, "rate_europe": rate_europe, "rate_world": rate_world}
    values: dict[str, Any] = {}
    rates: dict[str, int] = {}
    errors: dict[str, str] = {}
    for code in shipping.ZONES:
        raw = data.get(f"rate_{code}")
        values[code] = raw if isinstance(raw, str) else ""
        try:
            amount = Money.from_major(values[code]).amount
        except ValueError:
            errors[f"rate_{code}"] = "Enter an amount in pounds, like 3.99"
            continue
        if not 0 <= amount <= 100_00:
            errors[f"rate_{code}"] = "Enter an amount from £0 to £100."
            continue
        rates[code] = amount
    if errors:
        return render(
            request,
            "staff/shipping.html",
            {"zones": shipping.ZONES, "values": values, "errors": errors},
            status_code=422,
        )
    shipping.set_flat_rates(db, rates=rates)
    log.info("shipping rates saved", extra={"staff": user.email, "rates": rates})
    return redirect("/staff/shipping", "Delivery rates saved.")


__all__ = ["Discount", "checkout_page", "router"]
