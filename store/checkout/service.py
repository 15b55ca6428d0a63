"""Checkout rules: the delivery form, the summary and placing the pending order.

Services never commit. Paying for the order (attempts, idempotency keys, the calls to Stripe) is
store.checkout.payments; the live shipping rate is fetched before the order's transaction (see
`live_shipping`), never inside it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from store.cart import service as carts
from store.cart.models import Cart, CartLine
from store.checkout import discounts, shipping
from store.checkout.pricing import DiscountRule, LineIn, Quote, quote
from store.errors import DomainError
from store.order import service as orders
from store.order.models import Order, OrderEventType, OrderLine, OrderStatus, Payment
from store.text import is_email_address
from store.timeutil import utcnow

log = logging.getLogger("store.checkout")

# The Royal Mail shapes: A9 9AA, A99 9AA, AA9 9AA, AA99 9AA, A9A 9AA, AA9A 9AA; plus GIR 0AA.
UK_POSTCODE_RE = re.compile(r"^(GIR ?0AA|[A-Z]{1,2}[0-9][0-9A-Z]? ?[0-9][A-Z]{2})$")
POSTCODE_RES = {
    "US": re.compile(r"^\d{5}(-\d{4})?$"),
    "DE": re.compile(r"^\d{5}$"),
    "FR": re.compile(r"^\d{5}$"),
    "ES": re.compile(r"^\d{5}$"),
    "IT": re.compile(r"^\d{5}$"),
    "NL": re.compile(r"^\d{4} ?[A-Z]{2}$"),
    "AU": re.compile(r"^\d{4}$"),
    "CA": re.compile(r"^[A-Z]\d[A-Z] ?\d[A-Z]\d$"),
}
NO_POSTCODE = frozenset({"IE"})  # Eircodes are optional for delivery
LIVE_PAYMENT_STATUSES = ("created", "requires_action", "processing", "succeeded")


@dataclass
class AddressForm:
    email: str = ""
    full_name: str = ""
    address_line1: str = ""
    address_line2: str = ""
    town: str = ""
    postcode: str = ""
    country: str = "GB"
    round_up: bool = False
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, data: Any) -> AddressForm:
        def text(name: str, limit: int) -> str:
            value = data.get(name)
            return " ".join(value.split())[:limit] if isinstance(value, str) else ""

        return cls(
            email=text("email", 254),
            full_name=text("full_name", 200),
            address_line1=text("address_line1", 200),
            address_line2=text("address_line2", 200),
            town=text("town", 120),
            postcode=text("postcode", 20).upper(),
            country=(text("country", 2) or "GB").upper(),
            round_up=data.get("round_up") in ("1", "on", "true", "yes"),
        )

    @classmethod
    def from_order(cls, order: Order) -> AddressForm:
        return cls(
            email=order.email,
            full_name=order.full_name,
            address_line1=order.address_line1,
            address_line2=order.address_line2,
            town=order.town,
            postcode=order.postcode,
            country=order.country,
        )


def validate_address(form: AddressForm) -> bool:
    errors = form.errors
    if not is_email_address(form.email):
        errors["email"] = "Enter an email address like name@example.com, so we can send your receipt."
    if len(form.full_name) < 2:
        errors["full_name"] = "Enter the name of the person we are delivering to."
    if len(form.address_line1) < 3:
        errors["address_line1"] = "Enter the first line of the address."
    if len(form.town) < 2:
        errors["town"] = "Enter the town or city."
    if form.country not in shipping.COUNTRY_NAMES:
        errors["country"] = "Choose a country from the list."
        return False
    code = form.postcode
    if form.country == "GB":
        compact = code.replace(" ", "")
        if not UK_POSTCODE_RE.match(code) and not UK_POSTCODE_RE.match(compact):
            errors["postcode"] = "Enter a real UK postcode, like SW1A 1AA."
        elif len(compact) >= 5:
            form.postcode = f"{compact[:-3]} {compact[-3:]}"
    elif not code:
        if form.country not in NO_POSTCODE:
            errors["postcode"] = "Enter the postcode."
    else:
        pattern = POSTCODE_RES.get(form.country)
        if (pattern and not pattern.match(code)) or not re.match(r"^[A-Z0-9][A-Z0-9 -]{1,11}$", code):
            errors["postcode"] = f"Enter a valid postcode for {shipping.COUNTRY_NAMES[form.country]}."
    return not errors


# --- summary -------------------------------------------------------------------------------------


@dataclass
class Summary:
    quote: Quote
    discount_error: str | None = None
    unavailable: list[str] = field(default_factory=list)  # titles no longer for sale
    live_shipping: bool = False


def summarise(
    session: Session,
    *,
    cart: Cart | None,
    country: str = "GB",
    live_shipping: shipping.ShippingChoice | None = None,
) -> Summary:
    """Price the cart now, from the catalogue: lines, discount, delivery to `country`, VAT, total.

    `live_shipping`: the provider's rate, fetched beforehand by store.checkout.rates (never in here:
    this runs inside the order's transaction); without it, the zone's flat rate.
    """
    lines_in, unavailable = cart_lines(session, cart)
    subtotal = sum(line.unit_price * line.quantity for line in lines_in)
    rule: DiscountRule | None = None
    discount_error: str | None = None
    if cart is not None and cart.discount_code:
        try:
            found = discounts.check_for_cart(session, cart=cart, code=cart.discount_code, subtotal=subtotal)
            rule = discounts.rule_for(found)
        except DomainError as exc:
            discount_error = exc.message
    choice = live_shipping or shipping.flat_choice(session, country)
    result = quote(
        lines_in,
        discount=rule,
        shipping_name=choice.name,
        shipping=choice.amount if lines_in else 0,
        round_up=bool(cart and cart.round_up),
    )
    return Summary(result, discount_error, unavailable, choice.live)


def cart_lines(session: Session, cart: Cart | None) -> tuple[list[LineIn], list[str]]:
    """The cart's lines priced from the catalogue now, and the titles no longer for sale."""
    lines_in: list[LineIn] = []
    unavailable: list[str] = []
    for item in carts.items(session, cart):
        if item.product is None or item.variant is None:
            unavailable.append(item.title)
            continue
        price = item.variant.price_for(item.product)
        lines_in.append(
            LineIn(
                sku=item.variant.sku,
                title=item.product.title,
                options=dict(item.variant.options),
                quantity=item.line.quantity,
                unit_price=price.amount,
                vat_rate_bp=item.product.vat_rate_bp,
                extra={
                    "variant": item.variant,
                    "article_id": item.line.article_id,
                },
            )
        )
    return lines_in, unavailable


# --- placing the order ---------------------------------------------------------------------------


def pending_order(session: Session, cart: Cart | None) -> Order | None:
    """The cart's order while it can still be paid for."""
    if cart is None or cart.order_id is None:
        return None
    order = session.get(Order, cart.order_id)
    if order is None or order.status != OrderStatus.pending_payment:
        return None
    return order


def _has_live_payment(session: Session, order: Order) -> bool:
    found = session.exec(
        select(Payment.id).where(Payment.order_id == order.id, col(Payment.status).in_(LIVE_PAYMENT_STATUSES))
    ).first()
    return found is not None


def _new_order(session: Session, **fields: Any) -> Order:
    for _ in range(5):
        order = Order(number=orders.new_order_number(), token=orders.new_order_token(), **fields)
        try:
            with session.begin_nested():
                session.add(order)
                session.flush()
            return order
        except IntegrityError:  # a number already taken: draw again
            continue
    raise DomainError("We couldn't start your order. Please try again.")


def lines_key(lines: Iterable[Any]) -> list[tuple[str, int]]:
    """What an order's or a cart's lines hold, to compare: (sku, quantity) each, sorted."""
    return sorted((line.sku, line.quantity) for line in lines)


CART_CHANGED = "Your cart changed while we were placing your order. Please check it and try again."


@dataclass(frozen=True)
class PlannedOrder:
    """An order priced from the catalogue before the write lock (`plan_order`), for `write_order`."""

    fields: dict[str, Any]  # the order's columns
    quote: Quote
    priced_lines: list[tuple[str, int]]  # the cart's (sku, quantity) it was priced from
    priced_code: str | None  # and the cart's discount code
    priced_order_id: int | None  # and the cart's order


def place_order(
    session: Session,
    *,
    cart: Cart,
    form: AddressForm,
    live_shipping: shipping.ShippingChoice | None = None,
) -> Order:
    """Create (or, while unpaid and no payment is under way, update) the cart's pending order.

    Lines, unit prices, VAT rate and amount per line, delivery and discount are frozen into it from
    the catalogue as it is now. Consumes a use of the discount code (DomainError if none is left).
    `live_shipping` is the provider's rate, fetched BEFORE this transaction (store.checkout.rates).
    POST /checkout runs the two halves apart: the pricing without the write lock, then the writes.
    """
    planned = plan_order(session, cart=cart, form=form, live_shipping=live_shipping)
    return write_order(session, cart=cart, planned=planned)


def plan_order(
    session: Session,
    *,
    cart: Cart,
    form: AddressForm,
    live_shipping: shipping.ShippingChoice | None = None,
) -> PlannedOrder:
    """Price the cart for its order (reads only; DomainError when it cannot be ordered)."""
    summary = summarise(session, cart=cart, country=form.country, live_shipping=live_shipping)
    if summary.unavailable:
        raise DomainError(
            "Some items are no longer available: "
            + ", ".join(summary.unavailable)
            + ". Please review your cart."
        )
    q = summary.quote
    if not q.lines:
        raise DomainError("Your cart is empty.")
    if summary.discount_error:
        raise DomainError(summary.discount_error, field="discount_code")
    fields: dict[str, Any] = {
        "email": form.email,
        "full_name": form.full_name,
        "address_line1": form.address_line1,
        "address_line2": form.address_line2,
        "town": form.town,
        "postcode": form.postcode,
        "country": form.country,
        "currency": q.currency,
        "subtotal": q.subtotal,
        "discount_code": q.discount_code,
        "discount_amount": q.discount,
        "shipping_name": q.shipping_name,
        "shipping_amount": q.shipping,
        "shipping_vat_amount": q.shipping_vat,
        "vat_amount": q.vat,
        "total": q.total,
        "attribution_article_id": next(
            (line.extra["article_id"] for line in q.lines if line.extra.get("article_id")), None
        ),
    }
    return PlannedOrder(fields, q, lines_key(q.lines), cart.discount_code, cart.order_id)


def write_order(session: Session, *, cart: Cart, planned: PlannedOrder) -> Order:
    """The order's writes, for a cart priced by `plan_order`. Under the write lock its first reads
    check that the cart still holds what was priced (DomainError CART_CHANGED if another tab changed
    it meanwhile: nothing is written), then whether its order may still be updated (unpaid, no
    payment under way), then write."""
    assert cart.id is not None
    now_lines = session.execute(
        select(CartLine.sku, CartLine.quantity).where(col(CartLine.cart_id) == cart.id)
    ).all()
    now_cart = session.execute(select(Cart.discount_code, Cart.order_id).where(col(Cart.id) == cart.id)).one()
    if lines_key(now_lines) != planned.priced_lines or (
        tuple(now_cart) != (planned.priced_code, planned.priced_order_id)
    ):
        log.info("cart changed while pricing its order", extra={"cart": cart.id})
        raise DomainError(CART_CHANGED)
    fields, q = planned.fields, planned.quote
    order = pending_order(session, cart)
    if order is not None and not _has_live_payment(session, order):
        for name, value in fields.items():
            setattr(order, name, value)
        order.updated_at = utcnow()
        session.add(order)
        session.execute(delete(OrderLine).where(col(OrderLine.order_id) == order.id))
        created = False
    else:
        order = _new_order(session, **fields)
        created = True
    assert order.id is not None
    for line in q.lines:
        variant = line.extra["variant"]
        session.add(
            OrderLine(
                order_id=order.id,
                kind="product",
                sku=line.sku,
                variant_id=variant.id,
                product_title=line.title,
                options=line.options,
                quantity=line.quantity,
                unit_price=line.unit_price,
                discount_amount=line.discount,
                line_total=line.total,
                vat_rate_bp=line.vat_rate_bp,
                vat_amount=line.vat,
                provider_cost=variant.provider_cost,
                provider_variant_id=variant.provider_variant_id,
                print_file_url=variant.print_file_url,
            )
        )
    if q.donation:
        session.add(
            OrderLine(
                order_id=order.id,
                kind="donation",
                product_title="Round-up for independent journalism",
                quantity=1,
                unit_price=q.donation,
                line_total=q.donation,
            )
        )
    if q.discount_code:
        found = discounts.find(session, q.discount_code)
        assert found is not None
        discounts.consume(session, discount=found, order=order)
    else:
        discounts.release(session, order=order)
    cart.order_id = order.id
    session.add(cart)
    if created:
        orders.record_event(
            session,
            order,
            kind=OrderEventType.order_placed,
            actor="shopper",
            message="Order placed; awaiting payment.",
        )
    session.flush()
    log.info(
        "order placed" if created else "order updated",
        extra={"order": order.number, "total": order.total, "lines": len(q.lines)},
    )
    return order


def order_lines(session: Session, order: Order) -> list[OrderLine]:
    return list(
        session.exec(
            select(OrderLine).where(OrderLine.order_id == order.id).order_by(col(OrderLine.id))
        ).all()
    )


def complete_url(order: Order) -> str:
    return f"/checkout/complete/{order.token}"
