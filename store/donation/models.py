"""Donations and the money that actually arrived for them (one row per payment received)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from store.money import Money
from store.timeutil import utcnow


class DonationKind(StrEnum):
    one_off = "one_off"
    monthly = "monthly"


class DonationStatus(StrEnum):
    pending = "pending"  # started; no payment has gone through yet
    processing = "processing"  # an attempt is with Stripe right now
    requires_action = "requires_action"  # waiting for 3-D Secure
    failed = "failed"  # the last attempt was declined (the donor may try again)
    succeeded = "succeeded"  # one-off: paid
    active = "active"  # monthly: paying every month
    cancelled = "cancelled"  # monthly: stopped


class Donation(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    # Random, made when the form is shown: a double submit or a retry finds the same donation.
    reference: str = Field(max_length=64, unique=True, index=True)
    kind: str = Field(max_length=20)
    status: str = Field(default=DonationStatus.pending, max_length=20, index=True)
    amount: int  # pence; per month for monthly support
    currency: str = Field(default="GBP", max_length=3)
    email: str = Field(max_length=254)
    full_name: str = Field(max_length=200)
    article_id: int | None = Field(default=None, index=True)  # the story the donor came from, if any
    attempts: int = 0
    idempotency_key: str = Field(default="", max_length=120)  # of the latest attempt
    payment_method: str = Field(default="", max_length=120)  # latest attempt's pm_… (not card data)
    intent_id: str | None = Field(default=None, max_length=120, index=True)  # latest attempt's intent
    customer_id: str | None = Field(default=None, max_length=120)
    subscription_id: str | None = Field(default=None, max_length=120, unique=True)
    failure_message: str = ""
    created_at: datetime = Field(default_factory=utcnow, index=True)
    updated_at: datetime = Field(default_factory=utcnow, index=True)
    succeeded_at: datetime | None = None  # one-off paid, or monthly first payment
    cancelled_at: datetime | None = None

    def money(self) -> Money:
        return Money(self.amount, self.currency)


class DonationPayment(SQLModel, table=True):
    """Money received: a one-off payment, or one month of monthly support. The funding page sums these."""

    __tablename__ = "donation_payment"

    id: int | None = Field(default=None, primary_key=True)
    donation_id: int = Field(foreign_key="donation.id", index=True)
    # Dedupes the two roads a payment can arrive by (the page and the webhook): the intent id for a
    # one-off; "{subscription}:{YYYY-MM-DD}" of the billing day for a month of monthly support.
    external_id: str = Field(max_length=160, unique=True)
    amount: int
    currency: str = Field(default="GBP", max_length=3)
    paid_at: datetime = Field(default_factory=utcnow, index=True)
