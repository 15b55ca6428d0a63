"""Submitting one fulfilment row to the provider, exactly once, in the shape of store/order/refunds.py.

1. claim (own transaction, committed): pending and due, or `submitting` whose lease ran out ->
   `submitting` with a short lease (store.fulfilment.lease); a watchdog job is scheduled for when the
   lease would end, so a worker that dies here is replaced within a minute;
2. outside any transaction, with a heartbeat renewing the lease: provider.submit_order(external_id =
   order number), which asks GET /orders/@{external_id} before any POST, and again before any
   re-POST, so a lost answer never creates a second order;
3. settle (own transaction): only if the claim is still ours; success -> submitted (+ whatever the
   provider already knows), temporary trouble -> pending with exponential backoff until the limit,
   refusal or limit -> the exception desk, the order on hold and the shopper told.
A worker killed anywhere in between leaves the row pending (never pushed) or submitting with a lease
nobody renews; the watchdog (or the sweep) takes it again once the lease ends, and step 2 finds the
order if it was already created.

Manual fulfilment has nobody to submit to: the row is marked ready for staff and the order stays
`paid` ("To ship" on the staff pages) until staff mark it as shipped.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlmodel import col, select

from store.db import on_commit, unit_of_work
from store.fulfilment import lease as leases
from store.fulfilment import service
from store.fulfilment.models import Fulfilment, FulfilmentStatus
from store.fulfilment.providers import (
    ProviderError,
    ProviderOrder,
    ProviderOrderRequest,
    ProviderRejectedError,
    provider_for,
)
from store.order.models import Order, OrderStatus
from store.timeutil import utcnow

log = logging.getLogger("store.fulfilment")
F = FulfilmentStatus


def submit(fulfilment_id: int, *, actor: str = "system", watchdog: bool = False) -> str:
    """Submit one row if this caller can claim it. Returns what happened, for logs and tests.

    `watchdog`: this is the job scheduled for the end of someone's lease; if they still hold it (their
    heartbeat renewed it), it looks again at the new end, so a holder that dies later is replaced too.
    """
    with unit_of_work() as session:
        lease = leases.claim(session, fulfilment_id=fulfilment_id)
        if lease is None:
            if watchdog:
                _watch_again(session, fulfilment_id)
            return "not-claimed"
        row = session.get(Fulfilment, fulfilment_id)
        assert row is not None
        session.refresh(row)
        order = session.get(Order, row.order_id)
        assert order is not None
        if order.status in (OrderStatus.cancelled, OrderStatus.refunded, OrderStatus.pending_payment):
            leases.release(session, row, lease, status=F.cancelled)
            service.record_attempt(
                session,
                row,
                action="submit",
                outcome="skipped",
                detail=f"The order is {order.status}.",
                actor=actor,
            )
            return "skipped"
        if row.provider == "manual":
            # Staff are the printer: the row is on their list to print and post; the order stays paid.
            leases.release(session, row, lease, status=F.submitted, reason="")
            service.record_attempt(
                session,
                row,
                action="submit",
                outcome="ok",
                detail="Ready for staff to print and post.",
                actor=actor,
            )
            return "submitted"
        request = service.build_request(session, order)
        provider_name = row.provider
        _schedule_watchdog(session, fulfilment_id, lease)
    # The claim is committed: no other worker will submit this row while the heartbeat keeps the lease.
    answer: ProviderOrder | None = None
    error: ProviderError | None = None
    with leases.Heartbeat(fulfilment_id, lease) as beat:
        try:
            answer = _call(provider_name, request)
        except ProviderError as exc:
            error = exc
        except ValueError as exc:  # our data breaks the provider's rules (e.g. the external_id)
            error = ProviderRejectedError(str(exc), reason=str(exc))
        except Exception as exc:  # an unexpected failure is treated as temporary: retried, then the desk
            log.exception("fulfilment submit crashed", extra={"fulfilment": fulfilment_id})
            error = ProviderError(f"{type(exc).__name__}: {exc}")
    with unit_of_work() as session:
        outcome = settle(
            session, fulfilment_id=fulfilment_id, lease=beat.lease, answer=answer, error=error, actor=actor
        )
    if outcome == "cancelled":
        # Staff cancelled while we were submitting: cancel what we may just have created (after commit).
        _cancel_quietly(provider_name, request.external_id)
    return outcome


def _call(provider_name: str, request: ProviderOrderRequest) -> ProviderOrder:
    with provider_for(provider_name) as provider:
        return provider.submit_order(request)


def _schedule_watchdog(session: Any, fulfilment_id: int, lease: datetime) -> None:
    """After commit, a job for just after `lease` ends: if the holder died, it takes the row over."""

    def push() -> None:
        from store.fulfilment.tasks import watch_fulfilment

        watch_fulfilment.schedule(args=(fulfilment_id,), eta=lease + leases.WATCHDOG_SLACK)

    on_commit(session, push)


def _watch_again(session: Any, fulfilment_id: int) -> None:
    """Someone else holds the row: look again just after their (renewed) lease would end."""
    row = session.get(Fulfilment, fulfilment_id)
    if row is not None and row.status == F.submitting and row.lease_until is not None:
        _schedule_watchdog(session, fulfilment_id, service.aware(row.lease_until))


def settle(
    session: Any,
    *,
    fulfilment_id: int,
    lease: datetime,
    answer: ProviderOrder | None,
    error: ProviderError | None,
    actor: str,
) -> str:
    row = session.exec(select(Fulfilment).where(Fulfilment.id == fulfilment_id).with_for_update()).one()
    order = session.get(Order, row.order_id)
    assert order is not None
    if answer is not None:
        service.record_attempt(
            session,
            row,
            action="submit",
            outcome="ok",
            detail=f"Printer order {answer.provider_id}, status {answer.status}.",
            actor=actor,
        )
        won = leases.release(
            session,
            row,
            lease,
            status=F.submitted,
            provider_order_id=answer.provider_id,
            provider_status=answer.status[:20],
            reason="",
            last_error="",
            next_attempt_at=None,
        )
        if not won:
            if row.status == F.cancelled:
                log.warning("fulfilment cancelled during submit", extra={"order": order.number})
                return "cancelled"
            return "superseded"
        service.follow(
            session,
            order,
            F.submitted,
            actor=actor,
            message=f"Accepted by the printer ({answer.provider_id}).",
        )
        service.apply_provider_order(
            session,
            row,
            order,
            provider_status=answer.status,
            shipments=answer.shipments,
            actor=actor,
            source="Submission",
        )
        log.info("fulfilment submitted", extra={"order": order.number, "provider_order": answer.provider_id})
        return "submitted"
    assert error is not None
    temporary = not isinstance(error, ProviderRejectedError)
    service.record_attempt(
        session,
        row,
        action="submit",
        outcome="temporary_error" if temporary else "rejected",
        detail=error.reason,
        actor=actor,
    )
    if temporary and row.attempts < service.MAX_SUBMIT_ATTEMPTS:
        due = utcnow() + service.backoff(row.attempts)
        if not leases.release(
            session, row, lease, status=F.pending, next_attempt_at=due, last_error=error.reason[:2000]
        ):
            return "superseded"
        service.enqueue_submit(session, row, eta=due)
        log.warning(
            "fulfilment submit will be retried",
            extra={"order": order.number, "attempt": row.attempts, "next_attempt_at": due.isoformat()},
        )
        return "retry"
    reason = (
        f"The printer could not be reached after {row.attempts} attempts: {error.reason}"
        if temporary
        else f"The printer refused the order: {error.reason}"
    )
    if not leases.release(
        session,
        row,
        lease,
        status=F.failed,
        reason=reason[:2000],
        last_error=error.reason[:2000],
        next_attempt_at=None,
    ):
        return "superseded"
    service.follow(session, order, F.failed, actor=actor, message=reason)
    if order.status == OrderStatus.on_hold:
        service.queue_delay_email(session, order)
    log.error("fulfilment failed", extra={"order": order.number, "reason": reason})
    return "failed"


def _cancel_quietly(provider_name: str, number: str) -> None:
    try:
        with provider_for(provider_name) as provider:
            provider.cancel_order(number)
    except ProviderError:
        log.exception("could not cancel at the printer", extra={"order": number})


# -- the sweep ----------------------------------------------------------------------------------------------


def due_for_sweep(session: Any, *, now: datetime | None = None) -> list[int]:
    """Rows whose job was lost or is due: pending and untouched for a while, or an expired lease."""
    now = now or utcnow()
    stale = now - service.stuck_after()
    pending_lost = (col(Fulfilment.status) == F.pending) & (
        (col(Fulfilment.next_attempt_at).is_(None) & (col(Fulfilment.updated_at) < stale))
        | (col(Fulfilment.next_attempt_at) <= now)
    )
    lease_over = (col(Fulfilment.status) == F.submitting) & (col(Fulfilment.lease_until) < now)
    query = select(Fulfilment.id).where(pending_lost | lease_over).order_by(col(Fulfilment.id))
    return list(session.exec(query).all())
