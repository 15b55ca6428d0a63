"""The fulfilment outbox: one row per paid order, written in the same transaction that marks it paid."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from store.timeutil import utcnow


class FulfilmentStatus(StrEnum):
    pending = "pending"  # written with the payment; not yet accepted by the provider
    submitting = "submitting"  # claimed by one worker until lease_until; the provider call is under way
    submitted = "submitted"
    in_production = "in_production"
    shipped = "shipped"
    delivered = "delivered"
    failed = "failed"  # retries exhausted or the provider refused: staff must act
    on_hold = "on_hold"
    needs_approval = "needs_approval"
    cancelled = "cancelled"


F = FulfilmentStatus
_AT_WORK = {F.in_production, F.shipped, F.delivered, F.failed, F.on_hold, F.needs_approval, F.cancelled}
# The one table of allowed moves (as ORDER_MOVES is for orders). Forward along the happy path, into and
# out of the states staff act on (failed, on_hold, needs_approval), never back from shipped or cancelled.
# "submitting" is a claim: one worker or staff action holds the row (lease_until) while it talks to the
# provider, and only its holder moves it on (store.fulfilment.lease). Every move is a conditional
# UPDATE on the current status, so a stale or repeated event never moves anything back.
FULFILMENT_MOVES: dict[FulfilmentStatus, frozenset[FulfilmentStatus]] = {
    F.pending: frozenset({F.submitting, F.submitted} | _AT_WORK),
    F.submitting: frozenset({F.pending, F.submitted} | _AT_WORK),
    F.submitted: frozenset({F.submitting} | _AT_WORK),
    F.in_production: frozenset(_AT_WORK - {F.in_production}),
    F.failed: frozenset({F.pending, F.submitting, F.submitted} | _AT_WORK - {F.failed}),
    F.on_hold: frozenset({F.pending, F.submitting, F.submitted} | _AT_WORK - {F.on_hold}),
    F.needs_approval: frozenset({F.pending, F.submitting, F.submitted} | _AT_WORK - {F.needs_approval}),
    F.shipped: frozenset({F.delivered}),
    F.delivered: frozenset(),
    F.cancelled: frozenset(),
}
# The states staff must act on (the exception desk), and the ones nothing more happens to.
EXCEPTIONS = frozenset({F.failed, F.on_hold, F.needs_approval})
DONE = frozenset({F.shipped, F.delivered, F.cancelled})


def can_move(current: str, target: str) -> bool:
    return FulfilmentStatus(target) in FULFILMENT_MOVES.get(FulfilmentStatus(current), frozenset())


class Fulfilment(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="shop_order.id", unique=True)
    provider: str = Field(max_length=20)  # "printful" | "manual"
    status: str = Field(default=FulfilmentStatus.pending, max_length=20, index=True)
    provider_order_id: str | None = Field(default=None, max_length=64)
    attempts: int = 0
    last_error: str = ""
    next_attempt_at: datetime | None = Field(default=None, index=True)
    # The claim: while status is "submitting", only the worker holding an unexpired lease may act.
    lease_until: datetime | None = None
    reason: str = ""  # the provider's own words (or ours) for why staff must act; shown on the desk
    provider_status: str = Field(default="", max_length=20)  # last status the provider reported
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow, index=True)


class FulfilmentAttempt(SQLModel, table=True):
    """What was tried, when and with what answer: the exception desk's history."""

    __tablename__ = "fulfilment_attempt"

    id: int | None = Field(default=None, primary_key=True)
    fulfilment_id: int = Field(foreign_key="fulfilment.id", index=True)
    action: str = Field(max_length=40)  # submit, check, retry, approve, cancel, webhook:<type>
    outcome: str = Field(max_length=40)  # ok, temporary_error, rejected, …
    detail: str = ""
    actor: str = Field(default="system", max_length=120)
    created_at: datetime = Field(default_factory=utcnow)


class Shipment(SQLModel, table=True):
    # One row per parcel: a redelivered package_shipped webhook finds its row and changes nothing.
    __table_args__ = (Index("uq_shipment_order_tracking", "order_id", "tracking_number", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="shop_order.id", index=True)
    carrier: str = Field(max_length=80)
    service: str = Field(default="", max_length=80)
    tracking_number: str = Field(max_length=120)
    tracking_url: str = Field(default="", max_length=500)
    shipped_at: datetime = Field(default_factory=utcnow)
