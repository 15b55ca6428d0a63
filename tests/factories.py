"""Factories for tests, in one place: things made the way the shop makes them (registered as a plugin by
tests/conftest.py's pytest_plugins, for the fixtures at the end).

| what | how |
|---|---|
| a product with every size × colour as a variant | `make_product(db, "No War t-shirt", price="25.00")`; `sku_of(db, product, "M", "Black")` |
| a cart and a checkout, over HTTP as a shopper does | `add(client, sku, 2)`; `checkout(client)` (`ADDRESS`, overrides); `pay_form(client)` |
| an order, paid or not, with frozen lines and VAT | `make_paid_order(db, …)`; `order_total(…)`; fixture `stripe_paid_order` (a real localstripe payment) |
| a donation, through /donate as card-payment.js does | `open_form(client)`; `donate(client, localstripe_url, amount="5", card=CARD_SUCCEEDS)` |
| an order paid at an exact time, with fulfilment and pending refund | `placed_order(db, status=…, paid_at=…, lines=[product_line(2500, cost=1150), round_up_line(50)])`; `received_donation(db, "monthly", 500, paid_at)` |
| a staff account | fixture `make_staff("fulfilment")` → its email (password "correct-horse-battery") |
| the SQL a request ran | fixture `count_queries` → the statements run during the test (clear it, then ask) |

Orders: each line is (sku, title, unit price in pence incl. VAT, quantity); VAT is 20% included in every
price (shipping too). The discount comes off the first line. The order gets a Payment row with intent id
`intent_id` (default "pi_test_<number>") and, when paid=True, goes through the real
store.order.service.mark_paid (actor "stripe"), so it has its OrderEvent, fulfilment row and queued
confirmation email. Everything is committed and no transaction is left open (on SQLite an open one would
hide what the app commits later); the returned Order is fresh from the database.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from bs4 import BeautifulSoup
from sqlmodel import Session, select

from catalog import service as catalog
from catalog.models import Product, Variant
from store.donation.models import Donation, DonationPayment
from store.fulfilment.models import Fulfilment
from store.money import Money
from store.news.models import Article
from store.order.models import Order, OrderLine, Payment, Refund
from store.order.service import mark_paid, new_order_number, new_order_token
from store.payment import pay
from store.timeutil import utcnow
from tests.conftest import csrf_from, get_csrf, soup
from tests.fakes.localstripe import CARD_SUCCEEDS, make_payment_method

# --- catalogue ------------------------------------------------------------------------------------


def make_product(
    db: Session,
    title: str = "No War t-shirt",
    *,
    slug: str = "",
    collection: str = "t-shirts",
    price: str = "25.00",
    sizes: str = "S, M, L",
    colours: str = "Black, White",
    tags: str = "",
    published: bool = True,
    description: str = "A shirt.",
) -> Product:
    """Create (and commit) a product through the catalogue service, every size × colour a variant."""
    catalog.ensure_collections(db)
    form = catalog.ProductForm(
        title=title,
        slug=slug,
        description=description,
        collection=collection,
        price=price,
        sizes=sizes,
        colours=colours,
        tags=tags,
        published=published,
    )
    product = catalog.save_product(db, form=form, product=None, photo_key=None)
    db.commit()
    return product


def make_article(db: Session, *, slug: str, title: str, body_md: str, **fields: Any) -> Article:
    """A story, published an hour ago unless `published_at` says otherwise (committed)."""
    article = Article(
        slug=slug, title=title, body_md=body_md, **{"published_at": utcnow() - timedelta(hours=1), **fields}
    )
    db.add(article)
    db.commit()
    return article


def make_story_with_products(db: Session) -> Article:
    """The story "nurses-strike" (published an hour ago) with two products chosen for it, in order: a
    shirt (S, M, L × Black, White, £25) and a cushion (One size, Red, £30)."""
    article = make_article(
        db, slug="nurses-strike", title="Nurses strike for fair pay", body_md="The strike began at dawn."
    )
    shirt = make_product(db, "Pay the nurses t-shirt", price="25.00", sizes="S, M, L", colours="Black, White")
    cushion = make_product(
        db, "Solidarity cushion", collection="cushions", price="30.00", sizes="One size", colours="Red"
    )
    catalog.pick_for_article(db, article_id=article.id, product_id=shirt.id, position=0)
    catalog.pick_for_article(db, article_id=article.id, product_id=cushion.id, position=1)
    db.commit()
    return article


def sku_of(db: Session, product: Product, size: str = "M", colour: str = "Black") -> str:
    for variant in db.exec(select(Variant).where(Variant.product_id == product.id)).all():
        if variant.options.get("size") == size and variant.options.get("colour") == colour:
            sku = variant.sku
            db.rollback()  # end the read: SQLite would refuse this session's next write otherwise
            return sku
    raise AssertionError(f"no variant {size}/{colour}")


# --- cart and checkout, over HTTP -----------------------------------------------------------------


def add(client: Any, sku: str, quantity: int | str = 1, **extra: str) -> Any:
    token = get_csrf(client)
    return client.post(
        "/cart/add",
        data={"csrf_token": token, "sku": sku, "quantity": str(quantity), **extra},
        follow_redirects=False,
    )


ADDRESS = {
    "email": "ada@example.org",
    "full_name": "Ada Lovelace",
    "address_line1": "12 Marsh Lane",
    "address_line2": "",
    "town": "Leeds",
    "postcode": "ls1 4ap",
    "country": "GB",
}


def checkout(client: Any, **overrides: str) -> Any:
    page = client.get("/checkout")
    assert page.status_code == 200, page.text
    data = {"csrf_token": csrf_from(page.text), **ADDRESS, **overrides}
    return client.post("/checkout", data=data, follow_redirects=False)


def apply_discount(client: Any, code: str) -> Any:
    """ "Discount code" and "Apply" on /cart."""
    token = csrf_from(client.get("/cart").text)
    return client.post(
        "/cart/discount", data={"csrf_token": token, "discount_code": code}, follow_redirects=False
    )


def pay_by_card(client: Any, stripe_url: str, card: str = CARD_SUCCEEDS) -> Any:
    """The payment step as card-payment.js does it, with a pm_… for `card` from localstripe."""
    form = pay_form(client)
    return client.post(
        "/checkout/card/pay",
        data={**form, "payment_method": make_payment_method(stripe_url, card)},
        headers={"X-CSRF-Token": form["csrf_token"], "Accept": "application/json"},
    )


def pay_form(client: Any) -> dict[str, str]:
    """The hidden fields of the payment step's form (csrf_token, order, amount, …)."""
    page = client.get("/checkout/pay")
    assert page.status_code == 200, page.text
    form = soup(page.text).find("form", attrs={"data-card-payment": True})
    assert form is not None
    return {i["name"]: i.get("value", "") for i in form.find_all("input") if i.get("name")}


# --- orders ---------------------------------------------------------------------------------------

VAT_BP = 2000
Line = tuple[str, str, int, int]
DEFAULT_LINES: list[Line] = [("TS-RED-M", "Solidarity T-shirt", 2500, 1)]


def order_total(*, lines: list[Line] | None = None, shipping: int = 395, discount: int = 0) -> int:
    """The total make_paid_order will give an order with these arguments, in pence."""
    lines = lines if lines is not None else DEFAULT_LINES
    return sum(price * qty for _, _, price, qty in lines) - discount + shipping


def make_paid_order(
    db: Session,
    *,
    lines: list[Line] | None = None,
    shipping: int = 395,
    discount: int = 0,
    discount_code: str | None = None,
    paid: bool = True,
    email: str = "shopper@example.org",
    full_name: str = "Rosa Parks",
    country: str = "GB",
    intent_id: str | None = None,
    number: str | None = None,
) -> Order:
    """One £25.00 shirt and £3.95 UK delivery, paid, unless told otherwise (see the module's notes)."""
    lines = lines if lines is not None else DEFAULT_LINES
    number = number or new_order_number()
    subtotal = sum(price * qty for _, _, price, qty in lines)
    order = Order(
        number=number,
        token=new_order_token(),
        email=email,
        full_name=full_name,
        address_line1="1 Cable Street",
        address_line2="Flat 2",
        town="London",
        postcode="E1 8JQ",
        country=country,
        subtotal=subtotal,
        discount_code=discount_code or ("TEST" if discount else None),
        discount_amount=discount,
        shipping_name="UK standard" if shipping else "",
        shipping_amount=shipping,
        shipping_vat_amount=Money(shipping).vat_included(VAT_BP).amount,
    )
    db.add(order)
    db.flush()
    vat_total = order.shipping_vat_amount
    for index, (sku, title, price, qty) in enumerate(lines):
        line_discount = discount if index == 0 else 0
        line_total = price * qty - line_discount
        vat = Money(line_total).vat_included(VAT_BP).amount
        vat_total += vat
        db.add(
            OrderLine(
                order_id=order.id,  # type: ignore[arg-type]
                sku=sku,
                product_title=title,
                options={"size": "M", "colour": "Red"},
                quantity=qty,
                unit_price=price,
                discount_amount=line_discount,
                line_total=line_total,
                vat_rate_bp=VAT_BP,
                vat_amount=vat,
            )
        )
    order.vat_amount = vat_total
    order.total = subtotal - discount + shipping
    intent = intent_id or f"pi_test_{number}"
    db.add(
        Payment(
            order_id=order.id,  # type: ignore[arg-type]
            idempotency_key=f"order-{number}-pay-1",
            intent_id=intent,
            amount=order.total,
            status="created",
        )
    )
    db.add(order)
    db.commit()
    if paid:
        assert mark_paid(db, order=order, intent_id=intent, amount=order.total, actor="stripe")
        db.commit()
    db.refresh(order)
    db.commit()  # hold no read snapshot: on SQLite it would hide what the app commits next
    return order


def fulfilment_of(db: Session, order: Order) -> Fulfilment:
    """The order's fulfilment row as committed now (the test session's snapshot is ended first)."""
    db.rollback()
    db.expire_all()
    return db.exec(select(Fulfilment).where(Fulfilment.order_id == order.id)).one()


def statuses(db: Session, order: Order) -> tuple[str, str]:
    """(fulfilment status, order status) as committed now."""
    fulfilment = fulfilment_of(db, order)
    return fulfilment.status, db.exec(select(Order.status).where(Order.id == order.id)).one()


@pytest.fixture
def stripe_paid_order(db: Session, stripe_env: str) -> Callable[..., Order]:
    """An order paid by a real (localstripe) PaymentIntent for exactly its total, so it can be refunded."""

    def make(paid: bool = True, **kwargs: object) -> Order:
        number = new_order_number()
        total = order_total(**{k: v for k, v in kwargs.items() if k in ("lines", "shipping", "discount")})  # type: ignore[arg-type]
        result = pay(
            amount=Money(total),
            payment_method=make_payment_method(stripe_env, CARD_SUCCEEDS),
            idempotency_key=f"test-{number}-pay",
            metadata={"order_number": number},
        )
        assert result.status == "succeeded" and result.intent_id
        return make_paid_order(db, paid=paid, intent_id=result.intent_id, number=number, **kwargs)  # type: ignore[arg-type]

    return make


# --- donations, over HTTP as card-payment.js does: setup, a pm_… from localstripe, pay ------------


def open_form(client: Any, path: str = "/donate") -> dict[str, str]:
    page = BeautifulSoup(client.get(path).text, "html.parser")
    form = page.select_one("form[data-card-payment]")
    assert form is not None
    fields = {i["name"]: i.get("value", "") for i in form.select("input[type=hidden]")}
    return fields


def donate(
    client: Any,
    localstripe_url: str,
    *,
    amount: str,
    frequency: str = "one_off",
    card: str,
    email: str = "donor@example.org",
    full_name: str = "Dora Donor",
    path: str = "/donate",
    fields: dict[str, str] | None = None,
) -> dict[str, Any]:
    hidden = fields or open_form(client, path)
    form = hidden | {"amount": amount, "frequency": frequency, "email": email, "full_name": full_name}
    headers = {"X-CSRF-Token": hidden["csrf_token"]}
    setup = client.post("/donate/card/setup", data=form, headers=headers)
    assert setup.status_code == 200, setup.text
    assert setup.json()["client_secret"].startswith("seti_")
    pm = make_payment_method(localstripe_url, card)
    answer = client.post("/donate/card/pay", data=form | {"payment_method": pm}, headers=headers)
    return {
        "status_code": answer.status_code,
        "json": answer.json(),
        "reference": hidden["reference"],
        "form": form,
    }


# --- orders, donations and refunds at exact times (the dashboard and the orders export) -------------
#
#     order = placed_order(db, status="shipped", paid_at=…, lines=[product_line(2500, cost=1150), round_up_line(50)])
#
# Lines are dicts as OrderLine takes them; product_line works out the VAT (20 % included) and line total.
# The total is the lines plus shipping; created_at is the paid time unless given. Nothing is committed.

_placed_numbers = itertools.count(1)


def product_line(
    unit: int,
    *,
    qty: int = 1,
    cost: int = 0,
    discount: int = 0,
    title: str = "Solidarity tee",
    sku: str = "RRM-TEE-M",
) -> dict[str, Any]:
    total = unit * qty - discount
    return {
        "kind": "product",
        "sku": sku,
        "product_title": title,
        "options": {"size": "M", "colour": "Red"},
        "quantity": qty,
        "unit_price": unit,
        "discount_amount": discount,
        "line_total": total,
        "vat_rate_bp": 2000,
        "vat_amount": Money(total).vat_included(2000).amount,
        "provider_cost": cost,
    }


def round_up_line(pence: int) -> dict[str, Any]:
    return {
        "kind": "donation",
        "product_title": "Round-up donation",
        "quantity": 1,
        "unit_price": pence,
        "line_total": pence,
    }


def placed_order(
    db,  # type: ignore[no-untyped-def]
    *,
    status: str,
    paid_at: datetime | None,
    lines: list[dict[str, Any]],
    shipping: int = 0,
    refunded: int = 0,
    article_id: int | None = None,
    created_at: datetime | None = None,
    fulfilment: tuple[str, str] | None = None,  # (provider, status)
    refund_pending: int = 0,
    email: str = "shopper@example.org",
    full_name: str = "Rosa Parks",
    number: str | None = None,
) -> Order:
    n = next(_placed_numbers)
    placed = created_at or paid_at
    assert placed is not None
    order = Order(
        number=number or f"RR{n:05d}",
        token=f"tok-{n}-{placed.timestamp()}",
        status=status,
        email=email,
        full_name=full_name,
        address_line1="1 Cable Street",
        town="London",
        postcode="E1 8JQ",
        country="GB",
        subtotal=sum(line["unit_price"] * line["quantity"] for line in lines),
        discount_amount=sum(line.get("discount_amount", 0) for line in lines),
        shipping_amount=shipping,
        shipping_vat_amount=Money(shipping).vat_included(2000).amount,
        vat_amount=sum(line.get("vat_amount", 0) for line in lines),
        total=sum(line["line_total"] for line in lines) + shipping,
        amount_refunded=refunded,
        paid_at=paid_at,
        attribution_article_id=article_id,
        created_at=placed,
        updated_at=placed,
    )
    db.add(order)
    db.flush()
    for line in lines:
        db.add(OrderLine(order_id=order.id, **line))
    if fulfilment:
        db.add(Fulfilment(order_id=order.id, provider=fulfilment[0], status=fulfilment[1]))
    if refund_pending:
        db.add(
            Refund(
                order_id=order.id,
                idempotency_key=f"refund-{order.number}-1",
                amount=refund_pending,
                status="pending",
            )
        )
    db.flush()
    return order


def received_donation(db, kind: str, pence: int, paid_at: datetime, *, article_id: int | None = None) -> None:  # type: ignore[no-untyped-def]
    n = next(_placed_numbers)
    d = Donation(
        reference=f"don-{n:08d}",
        kind=kind,
        status="succeeded" if kind == "one_off" else "active",
        amount=pence,
        email="d@example.org",
        full_name="D",
        article_id=article_id,
    )
    db.add(d)
    db.flush()
    db.add(DonationPayment(donation_id=d.id, external_id=f"pay-{n}", amount=pence, paid_at=paid_at))
    db.flush()


def card_fee_by_hand(total: int) -> int:
    """1.5 % + 20p, half up: written out again here so the tests do not trust the code they check."""
    if total <= 0:
        return 0
    from decimal import ROUND_HALF_UP, Decimal

    return int((Decimal(total) * Decimal("0.015")).quantize(Decimal(1), ROUND_HALF_UP)) + 20


# --- staff ----------------------------------------------------------------------------------------


@pytest.fixture
def make_staff(db: Session) -> Callable[..., str]:
    from store.auth.service import create_staff

    def make(role: str, email: str | None = None, password: str = "correct-horse-battery") -> str:
        email = email or f"{role}@staff.example"
        create_staff(db, email=email, password=password, role=role)
        db.commit()
        return email

    return make


# --- what the database was asked ---------------------------------------------------------------------


@pytest.fixture
def count_queries(engine):  # type: ignore[no-untyped-def]
    """The SQL statements run while the test runs (none for a page served from the page cache)."""
    from sqlalchemy import event

    statements: list[str] = []

    def listener(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if not statement.startswith(("BEGIN", "COMMIT", "ROLLBACK", "PRAGMA", "SAVEPOINT", "RELEASE")):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", listener)
    yield statements
    event.remove(engine, "before_cursor_execute", listener)
