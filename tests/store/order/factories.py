"""Orders for tests, made the way checkout makes them: frozen lines, VAT and totals in pence.

    order = make_paid_order(db)                                  # one £25.00 shirt, £3.95 UK delivery, paid
    order = make_paid_order(db, paid=False)                      # still pending_payment, with a Payment row
    order = make_paid_order(db, lines=[("TS-RED-M", "Red shirt", 2500, 2)], shipping=0, discount=500)

Each line is (sku, title, unit price in pence incl. VAT, quantity); VAT is 20% included in every
price (shipping too). The discount comes off the first line. The order gets a Payment row with intent
id `intent_id` (default "pi_test_<number>") and, when paid=True, goes through the real
store.order.service.mark_paid (actor "stripe"), so it has its OrderEvent, fulfilment row and queued
confirmation email. Everything is committed and no transaction is left open (on SQLite an open
one would hide what the app commits later); the returned Order is fresh from the database.
"""

from __future__ import annotations

from sqlmodel import Session

from store.money import Money
from store.order.models import Order, OrderLine, Payment
from store.order.service import mark_paid, new_order_number, new_order_token

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
