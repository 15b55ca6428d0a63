"""Staff actions that talk to the print provider (approve an order it holds; stop an order being
cancelled), in the shape of store/order/refunds.py:

1. a short transaction locks the order, checks the rule and CLAIMS the fulfilment row (`submitting`
   with our lease, store.fulfilment.lease): the recorded intent, so no worker submits or resubmits it
   while we talk to the provider. The provider's idempotency key is ours: external_id = order number;
2. the provider is called outside any transaction, with a heartbeat keeping the claim;
3. a second short transaction records the answer and releases the claim: on, or back where it was.

A process that dies between 1 and 3 leaves the row `submitting` with a lease that runs out; the sweep
then gives it to a worker, whose submit asks the provider first (GET /orders/@{number}) and adopts
what it finds, so nothing is printed twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from store.db import unit_of_work
from store.errors import DomainError
from store.fulfilment import lease as leases
from store.fulfilment import service
from store.fulfilment.models import DONE, EXCEPTIONS, Fulfilment, FulfilmentStatus
from store.fulfilment.providers import ProviderError, ProviderOrder, provider_for
from store.order.models import Order
from store.order.service import lock_order
from store.timeutil import utcnow

log = logging.getLogger("store.fulfilment")
F = FulfilmentStatus
CHANGED = "This order changed while you were looking; please try again."


@dataclass(frozen=True)
class ActionOutcome:
    ok: bool
    message: str  # for the staff member, either way


# --- approve ------------------------------------------------------------------------------------------


def approve(*, number: str, actor: str, engine: Engine | None = None) -> ActionOutcome:
    """Approve an order the provider holds for our confirmation (a draft, or on hold for approval)."""
    # 1. Claim the row: the intent, committed.
    with unit_of_work(engine) as session:
        order = lock_order(session, number)
        row = service.for_order(session, order)
        if row is None or row.status != F.needs_approval:
            return ActionOutcome(False, "Only an order waiting for approval can be approved.")
        assert row.id is not None
        lease = leases.claim(
            session,
            fulfilment_id=row.id,
            from_statuses=frozenset({F.needs_approval}),
            count_attempt=False,
            only_due=False,
        )
        if lease is None:
            return ActionOutcome(False, CHANGED)
        row_id, provider_name = row.id, row.provider
    # 2. The provider, outside any transaction.
    answer: ProviderOrder | None = None
    error: ProviderError | None = None
    with leases.Heartbeat(row_id, lease, engine=engine) as beat:
        try:
            with provider_for(provider_name) as provider:
                answer = provider.confirm_order(number)
        except ProviderError as exc:
            error = exc
    # 3. The answer, and the claim released.
    with unit_of_work(engine) as session:
        order = lock_order(session, number)
        row = _row(session, row_id)
        if error is not None or answer is None:
            reason = error.reason if error is not None else "no answer"
            leases.release(session, row, beat.lease, status=F.needs_approval)
            service.record_attempt(
                session, row, action="approve", outcome="error", detail=reason, actor=actor
            )
            return ActionOutcome(False, f"The printer did not accept the approval: {reason}")
        target = service.PROVIDER_STATUS.get(answer.status, F.submitted)
        if target in EXCEPTIONS or target in (F.cancelled, F.shipped):
            target = F.submitted
        if not leases.release(
            session,
            row,
            beat.lease,
            status=target,
            provider_order_id=row.provider_order_id or answer.provider_id,
            reason="",
            next_attempt_at=None,
        ):
            return ActionOutcome(False, CHANGED)
        service.record_attempt(
            session, row, action="approve", outcome="ok", detail=f"Printer says {answer.status}.", actor=actor
        )
        service.follow(session, order, target, actor=actor, message="Approved at the printer by staff.")
    log.info("fulfilment approved", extra={"order": number, "actor": actor})
    return ActionOutcome(True, f"Order {number} was approved at the printer.")


# --- stopping an order staff are cancelling (store.order.refunds.cancel_order runs the steps) -----------


@dataclass(frozen=True)
class ProviderStop:
    """A row claimed so the provider can be asked to cancel it; `previous` is where it goes back to."""

    fulfilment_id: int
    provider: str
    previous: FulfilmentStatus
    lease: datetime


def begin_stop(session: Session, *, order: Order, actor: str) -> ProviderStop | None:
    """Step 1, in the caller's transaction (the order locked with lock_order).

    Nothing at the provider yet: the row is cancelled here (a worker claiming it later finds nothing
    to do) and None is returned. At the provider: the row is claimed and a ProviderStop returned;
    commit, then `ask_provider_to_stop`, then `finish_stop`. DomainError when it cannot be stopped.
    """
    row = service.for_order(session, order)
    if row is None or row.status == F.cancelled:
        return None
    assert row.id is not None
    now = utcnow()
    if row.status in DONE or row.status == F.in_production:
        raise DomainError("The printer has already started on this order, so it can't be cancelled.")
    if service.lease_live(row, now):
        raise DomainError("This order is being sent to the printer right now; try again in a minute.")
    at_provider = row.provider != "manual" and (row.status != F.pending or row.attempts > 0)
    if not at_provider:
        result = session.execute(
            update(Fulfilment)
            .where(col(Fulfilment.id) == row.id, col(Fulfilment.status) == row.status)
            .values(status=F.cancelled, lease_until=None, next_attempt_at=None, updated_at=now)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise DomainError(CHANGED)
        session.refresh(row)
        service.record_attempt(
            session, row, action="cancel", outcome="ok", detail="Cancelled before it was sent.", actor=actor
        )
        return None
    # A submitting row here has an expired lease (its holder died): it goes back to pending if kept.
    previous = F.pending if row.status == F.submitting else FulfilmentStatus(row.status)
    lease = leases.claim(
        session,
        fulfilment_id=row.id,
        from_statuses=frozenset({previous}),
        count_attempt=False,
        only_due=False,
        now=now,
    )
    if lease is None:
        raise DomainError(CHANGED)
    return ProviderStop(row.id, row.provider, previous, lease)


def ask_provider_to_stop(
    stop: ProviderStop, *, number: str, engine: Engine | None = None
) -> tuple[ProviderStop, ProviderError | None]:
    """Step 2, outside any transaction: cancelling twice is fine at the provider."""
    error: ProviderError | None = None
    with leases.Heartbeat(stop.fulfilment_id, stop.lease, engine=engine) as beat:
        try:
            with provider_for(stop.provider) as provider:
                provider.cancel_order(number)
        except ProviderError as exc:
            error = exc
    return replace(stop, lease=beat.lease), error


def finish_stop(
    session: Session, stop: ProviderStop, *, error: ProviderError | None, actor: str
) -> str | None:
    """Step 3, in a new transaction: None when the row is cancelled, else why not (the row goes back)."""
    row = _row(session, stop.fulfilment_id)
    if error is not None:
        leases.release(session, row, stop.lease, status=stop.previous)
        service.record_attempt(
            session, row, action="cancel", outcome="refused", detail=error.reason, actor=actor
        )
        return f"The printer would not cancel this order: {error.reason}"
    if not leases.release(session, row, stop.lease, status=F.cancelled, next_attempt_at=None):
        return CHANGED
    service.record_attempt(
        session, row, action="cancel", outcome="ok", detail="Cancelled at the printer.", actor=actor
    )
    return None


def _row(session: Session, fulfilment_id: int) -> Fulfilment:
    row = session.get(Fulfilment, fulfilment_id)
    assert row is not None
    session.refresh(row)
    return row
