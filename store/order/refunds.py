"""Refunds and cancellations as staff (and the reconciler) run them: THE shape of every outside call.

Stripe, the print provider and SMTP are never called while a write transaction is open (it would
hold SQLite's write lock, or PostgreSQL row locks, for as long as the network takes). Every flow
that calls out is a function of its own, like `refund_order` here, in three steps:

1. **Record the intent** in one short transaction and COMMIT: check the rule under the row's lock and
   write the row that holds the idempotency key we will send (here a pending Refund with
   `order-{number}-refund-{n}`; a Payment with `order-{number}-pay-{n}`; a donation attempt; a
   fulfilment claim whose key is the provider's external_id = our order number);
2. **Call outside any transaction** with that key (a timeout, bounded retries; the SDK or provider
   client does those);
3. **Record the result** in a new short transaction, idempotently (settled once, forward only).

The function owns its transactions (`unit_of_work`) and returns a small typed outcome (a frozen
dataclass); the route only turns the outcome into HTML or JSON. A crash or a timeout between 2 and 3
leaves the intent recorded: a sweep or the reconciler asks again with the SAME key, so the outside
party replays its first answer instead of charging, refunding or printing twice.
Copies: store/checkout/payments.py, store/donation/payments.py, store/fulfilment/submission.py and
store/fulfilment/actions.py; checkout fetches live shipping rates before its transaction instead.

For refunds: the pending row still blocks that money from being refunded again until it is settled
(succeeded: counted, on the timeline, a full refund moves the order to `refunded`; failed: counts for
nothing).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlmodel import Session

from store.db import unit_of_work
from store.errors import DomainError
from store.money import Money
from store.order import service
from store.order.models import Order, Refund, RefundStatus
from store.payment import PaymentError, PaymentUnavailable, RefundRefused
from store.payment import refund as stripe_refund

log = logging.getLogger("store.order")


@dataclass(frozen=True)
class RefundOutcome:
    status: str  # "succeeded" | "failed" | "pending"
    amount: Money
    message: str


def refund_order(
    *,
    number: str,
    amount: int | None,
    actor: str,
    staff_email: str = "",
    reason: str = "",
    engine: Engine | None = None,
) -> RefundOutcome:
    """Refund `amount` pence (None: all that is left) of a paid order. DomainError(field="amount") when
    the amount is refused before Stripe is asked; otherwise an outcome for the staff message."""
    with unit_of_work(engine) as session:
        order = service.lock_order(session, number)
        refund = service.begin_refund(
            session, order=order, amount=amount, staff_email=staff_email, reason=reason
        )
        refund_id = refund.id
    assert refund_id is not None
    return settle_refund(refund_id, actor=actor, engine=engine)


def settle_refund(refund_id: int, *, actor: str, engine: Engine | None = None) -> RefundOutcome:
    """Ask Stripe for a pending refund (with its stored key) and record the answer."""
    with unit_of_work(engine) as session:
        refund = session.get(Refund, refund_id)
        if refund is None:
            raise DomainError("No such refund.")
        order = session.get(Order, refund.order_id)
        assert order is not None
        money = order.money(refund.amount)
        if refund.status != RefundStatus.pending:
            return RefundOutcome(refund.status, money, "This refund was already settled.")
        intent_id, key = order.paid_intent_id, refund.idempotency_key
    if not intent_id:
        _fail(refund_id, "the order has no recorded payment", actor, engine)
        return RefundOutcome("failed", money, "This order has no recorded card payment to refund.")
    try:
        result = stripe_refund(intent_id=intent_id, amount=money, idempotency_key=key)
    except PaymentUnavailable:
        log.warning("refund left pending: stripe unavailable", extra={"refund_key": key})
        return RefundOutcome(
            "pending",
            money,
            f"Stripe did not answer. The refund of {money.format()} is saved and will be retried "
            "automatically; it cannot be paid out twice.",
        )
    except RefundRefused as exc:
        _fail(refund_id, f"Stripe refused it ({exc})", actor, engine)
        return RefundOutcome(
            "failed", money, f"Stripe refused the refund of {money.format()}. Nothing was refunded."
        )
    except PaymentError as exc:
        _fail(refund_id, f"Stripe error ({exc})", actor, engine)
        return RefundOutcome("failed", money, f"The refund of {money.format()} failed. Nothing was refunded.")
    if result.status in ("failed", "canceled"):
        _fail(refund_id, f"Stripe answered {result.status} ({result.id})", actor, engine)
        return RefundOutcome("failed", money, f"Stripe could not make the refund of {money.format()}.")
    with unit_of_work(engine) as session:
        service.complete_refund(session, refund_id=refund_id, stripe_refund_id=result.id, actor=actor)
    log.info("refund made", extra={"refund_key": key, "stripe_refund": result.id, "amount": money.amount})
    return RefundOutcome("succeeded", money, f"Refunded {money.format()}.")


def _fail(refund_id: int, message: str, actor: str, engine: Engine | None) -> None:
    with unit_of_work(engine) as session:
        service.fail_refund(session, refund_id=refund_id, message=message, actor=actor)


@dataclass(frozen=True)
class CancelOutcome:
    cancelled: bool
    message: str  # for staff, either way
    refund: RefundOutcome | None = None


def cancel_order(
    *, number: str, actor: str, staff_email: str = "", engine: Engine | None = None
) -> CancelOutcome:
    """Cancel before production: stop the printer (outside any transaction), then cancel the order
    and refund a paid one in full (its own three steps)."""
    from store.fulfilment import actions as fulfilment

    refund_id: int | None = None
    # 1. The order locked and checked; fulfilment stopped here, or its row claimed to ask the printer.
    try:
        with unit_of_work(engine) as session:
            order = service.lock_order(session, number)
            service.check_cancellable(order)
            stop = fulfilment.begin_stop(session, order=order, actor=actor)
            if stop is None:
                refund_id = _cancel(session, order, actor=actor, staff_email=staff_email)
    except DomainError as exc:
        return CancelOutcome(False, exc.message)
    if stop is not None:
        # 2. The printer, outside any transaction.
        stop, error = fulfilment.ask_provider_to_stop(stop, number=number, engine=engine)
        # 3. Its answer; then the order (only if the printer let go of it).
        with unit_of_work(engine) as session:
            order = service.lock_order(session, number)
            refused = fulfilment.finish_stop(session, stop, error=error, actor=actor)
            if refused is None:
                try:
                    with session.begin_nested():
                        refund_id = _cancel(session, order, actor=actor, staff_email=staff_email)
                except DomainError as exc:
                    refused = f"The printer cancelled it, but {exc.message[0].lower()}{exc.message[1:]}"
        if refused is not None:
            return CancelOutcome(False, refused)
    if refund_id is None:
        return CancelOutcome(True, "Order cancelled.")
    outcome = settle_refund(refund_id, actor=actor, engine=engine)
    if outcome.status == "succeeded":
        return CancelOutcome(True, f"Order cancelled and {outcome.amount.format()} refunded.", outcome)
    return CancelOutcome(True, f"Order cancelled. {outcome.message}", outcome)


def _cancel(session: Session, order: Order, *, actor: str, staff_email: str) -> int | None:
    """Move the (locked) order to cancelled and write the pending refund of all that was paid."""
    service.cancel(session, order=order, actor=actor, reason="Cancelled by staff.")
    if service.refundable(session, order) <= 0:
        return None
    refund = service.begin_refund(
        session, order=order, amount=None, staff_email=staff_email, reason="Order cancelled."
    )
    return refund.id
