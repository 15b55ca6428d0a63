"""Orders are frozen at sale: every price, VAT rate and amount, the shipping and the discount are
copied into the order, so a later catalogue edit never changes a placed order (saleor, oscar)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from store.money import Money
from store.timeutil import utcnow


class OrderStatus(StrEnum):
    pending_payment = "pending_payment"
    paid = "paid"
    submitted = "submitted"  # accepted by the print provider
    in_production = "in_production"
    shipped = "shipped"
    delivered = "delivered"
    on_hold = "on_hold"  # needs staff: the provider refused it, or an address failed
    cancelled = "cancelled"
    refunded = "refunded"


S = OrderStatus
# The one table of allowed moves. A move is a conditional UPDATE (… WHERE status = :old), so two
# workers racing cannot both win, and a stale event can never move an order backwards.
ORDER_MOVES: dict[OrderStatus, set[OrderStatus]] = {
    S.pending_payment: {S.paid, S.cancelled},
    S.paid: {S.submitted, S.in_production, S.shipped, S.on_hold, S.cancelled, S.refunded},
    S.submitted: {S.in_production, S.shipped, S.on_hold, S.cancelled, S.refunded},
    S.in_production: {S.shipped, S.on_hold, S.refunded},
    S.on_hold: {S.submitted, S.in_production, S.shipped, S.cancelled, S.refunded},
    S.shipped: {S.delivered, S.refunded},
    S.delivered: {S.refunded},
    S.cancelled: {S.refunded},
    S.refunded: set(),
}


class Order(SQLModel, table=True):
    __tablename__ = "shop_order"  # "order" is an SQL keyword

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=32, unique=True, index=True)  # safe as the provider's external_id
    token: str = Field(max_length=64, unique=True, index=True)  # the shopper's unguessable link
    status: str = Field(default=OrderStatus.pending_payment, max_length=20, index=True)
    email: str = Field(max_length=254)
    full_name: str = Field(max_length=200)
    address_line1: str = Field(max_length=200)
    address_line2: str = Field(default="", max_length=200)
    town: str = Field(max_length=120)
    postcode: str = Field(max_length=20)
    country: str = Field(max_length=2)  # ISO 3166-1 alpha-2
    currency: str = Field(default="GBP", max_length=3)
    subtotal: int = 0  # pence incl. VAT, before discount
    discount_code: str | None = Field(default=None, max_length=40)
    discount_amount: int = 0
    shipping_name: str = Field(default="", max_length=120)
    shipping_amount: int = 0  # incl. VAT
    shipping_vat_amount: int = 0
    vat_amount: int = 0  # all VAT contained in total
    total: int = 0
    amount_refunded: int = 0  # pence actually refunded (succeeded refunds only)
    paid_intent_id: str | None = Field(default=None, max_length=120)  # the PaymentIntent that paid it
    attribution_article_id: int | None = Field(default=None, index=True)
    created_at: datetime = Field(default_factory=utcnow, index=True)
    updated_at: datetime = Field(default_factory=utcnow, index=True)
    paid_at: datetime | None = Field(default=None, index=True)  # the dashboard's periods

    def money(self, amount: int) -> Money:
        return Money(amount, self.currency)


class OrderLine(SQLModel, table=True):
    __tablename__ = "order_line"

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="shop_order.id", index=True, ondelete="CASCADE")
    kind: str = Field(default="product", max_length=20)  # "product" or "donation" (round-up)
    sku: str = Field(default="", max_length=64)
    variant_id: int | None = None  # no FK: the order outlives catalogue edits
    product_title: str = Field(max_length=200)
    options: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    quantity: int = Field(ge=1)
    unit_price: int  # pence incl. VAT, frozen
    discount_amount: int = 0  # share of the order discount on this line
    line_total: int  # unit_price * quantity - discount_amount
    vat_rate_bp: int = 0
    vat_amount: int = 0
    provider_cost: int = 0  # per unit, frozen for margin reports
    provider_variant_id: int | None = None
    print_file_url: str = ""


class OrderEventType(StrEnum):
    """What happened, with the facts in `OrderEvent.data` (code reads those; people read `message`)."""

    order_placed = "order_placed"  # {}
    status_changed = "status_changed"  # {} (from_status and to_status are columns)
    payment_succeeded = "payment_succeeded"  # {intent_id, amount}: the move to paid
    payment_failed = "payment_failed"  # {intent_id, reason}: a declined or failed attempt
    payment_mismatch = "payment_mismatch"  # {intent_id, amount, expected}: not marked paid
    second_payment = "second_payment"  # {intent_id, amount, paid_by}: a double charge to refund
    payment_after_cancellation = "payment_after_cancellation"  # {intent_id, amount}: money to refund
    refund_succeeded = "refund_succeeded"  # {refund_id, stripe_refund_id, amount, refunded, in_full}
    refund_failed = "refund_failed"  # {refund_id, amount, reason}
    note = "note"  # {}


class OrderEvent(SQLModel, table=True):
    """The order's timeline: every status move and notable action, who did it and why."""

    __tablename__ = "order_event"

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="shop_order.id", index=True, ondelete="CASCADE")
    from_status: str | None = Field(default=None, max_length=20)
    to_status: str | None = Field(default=None, max_length=20)
    kind: str = Field(default=OrderEventType.status_changed, max_length=40)  # an OrderEventType
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, default=dict))
    actor: str = Field(default="system", max_length=120)  # system, stripe, printful, staff:<email>
    message: str = ""  # the words staff read on the timeline
    created_at: datetime = Field(default_factory=utcnow)

    @property
    def group(self) -> str:
        """How the timeline shows it: a status move, or a payment, refund or note line."""
        if self.to_status is not None:
            return "status"
        if self.kind.startswith("refund"):
            return "refund"
        if self.kind.startswith("payment") or self.kind == OrderEventType.second_payment:
            return "payment"
        return "note"


class Payment(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="shop_order.id", index=True)
    idempotency_key: str = Field(max_length=120, unique=True)
    intent_id: str | None = Field(default=None, max_length=120, unique=True)
    amount: int
    currency: str = Field(default="GBP", max_length=3)
    status: str = Field(default="created", max_length=30)  # created, requires_action, succeeded, failed
    failure_message: str = ""
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class RefundStatus(StrEnum):
    pending = "pending"  # written (and committed) BEFORE Stripe is asked; retried with the same key
    succeeded = "succeeded"
    failed = "failed"  # Stripe said no: counts for nothing


class Refund(SQLModel, table=True):
    """One refund request. The row (with the idempotency key we send) is committed before Stripe is
    called, so a crash or timeout in between is retried with the same key and never refunds twice."""

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="shop_order.id", index=True)
    idempotency_key: str = Field(max_length=120, unique=True)
    stripe_refund_id: str | None = Field(default=None, max_length=120)
    amount: int
    reason: str = ""
    staff_email: str = ""
    status: str = Field(default=RefundStatus.pending, max_length=20, index=True)
    failure_message: str = ""
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
