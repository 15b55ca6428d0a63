"""Shipping zones, discount codes (with their uses) and payment attempts of the checkout."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from store.timeutil import utcnow


class ShippingZone(SQLModel, table=True):
    """A flat delivery rate per zone, VAT included; the owner edits them at /staff/shipping.

    Rows are optional: a zone without a row uses its default rate (store.checkout.shipping)."""

    __tablename__ = "shipping_zone"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=20, unique=True)  # "uk", "europe", "world"
    rate: int = Field(ge=0)  # pence incl. VAT
    updated_at: datetime = Field(default_factory=utcnow)


class Discount(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=40, unique=True, index=True)  # stored upper case
    percent_off: int | None = Field(default=None, ge=1, le=100)
    amount_off: int | None = Field(default=None, ge=1)  # pence
    min_spend: int = Field(default=0, ge=0)  # pence, goods incl. VAT, before the discount
    expires_at: datetime | None = None
    usage_limit: int | None = Field(default=None, ge=1)
    uses: int = Field(default=0, ge=0)  # consumed by placed orders; released by cancelled ones
    is_active: bool = True
    created_at: datetime = Field(default_factory=utcnow)


class DiscountUse(SQLModel, table=True):
    """One use of a code by one order: consuming twice for the same order is impossible (UNIQUE)."""

    __tablename__ = "discount_use"

    id: int | None = Field(default=None, primary_key=True)
    discount_id: int = Field(foreign_key="discount.id", index=True)
    order_id: int = Field(foreign_key="shop_order.id", unique=True)
    created_at: datetime = Field(default_factory=utcnow)


class PaymentAttempt(SQLModel, table=True):
    """Which payment method went with which attempt of an order: the same pm_… (a double-clicked Pay,
    a retried request) always reuses the same attempt, so the same idempotency key, so one charge."""

    __tablename__ = "checkout_payment_attempt"
    __table_args__ = (UniqueConstraint("order_id", "attempt"),)

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="shop_order.id", index=True)
    attempt: int = Field(ge=1)
    payment_method: str = Field(max_length=120, unique=True)
    payment_id: int = Field(foreign_key="payment.id")
    created_at: datetime = Field(default_factory=utcnow)
