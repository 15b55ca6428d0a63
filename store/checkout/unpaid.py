"""Abandoned unpaid orders: cancelled after STORE_UNPAID_ORDER_MINUTES, their discount use released.

An order is abandoned when it is `pending_payment` and neither it nor any of its payment attempts
has changed for the cut-off. Each one goes through three steps, and Stripe is never asked inside a
write transaction (read → ask → conditional write):

1. read the candidates (`candidates`);
2. ask Stripe about every intent of the order (`settle`):
   * succeeded: the money was taken. The order is paid through order.service.mark_paid (the one
     idempotent path the webhook and the Pay page use) and is never cancelled;
   * processing: the bank has it and Stripe will decide; the order is left for a later run;
   * requires_action (3-D Secure nobody finished within the cut-off): the intent is cancelled at
     Stripe first, so it can no longer take money; should Stripe say it succeeded meanwhile, the
     order is paid instead;
   * declined or cancelled: nothing can take money through it.
   An attempt with no intent at all (the request died while Stripe was asked) cannot be asked. Its
   webhook arrives within seconds; one arriving after the cancellation is flagged on the timeline.
3. cancel with a conditional UPDATE that still requires the order to be pending and unchanged since
   the cut-off. A shopper who starts paying meanwhile claims the order (`claim_for_payment`, which
   changes it) and wins; if the job won, the claim finds the order cancelled and the Pay path refuses
   before Stripe is asked. On PostgreSQL the two UPDATEs meet on the order's row lock; on SQLite on
   the write lock. A payment that succeeds after cancellation anyway is flagged for refund
   (order.service.mark_paid).

Intents younger than the cut-off are never looked at: an order with any attempt within the cut-off
is not a candidate, so a shopper in the middle of 3-D Secure is never interrupted.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, or_, update
from sqlmodel import Session, col, select

from store.cart.models import Cart
from store.checkout import discounts
from store.config import get_settings
from store.db import unit_of_work
from store.order import service as orders
from store.order.models import Order, OrderStatus, Payment
from store.payment import PaymentError, PaymentResult, cancel_payment, retrieve_payment
from store.timeutil import utcnow

log = logging.getLogger("store.checkout")

ACTOR = "unpaid-orders"
BATCH = 200  # orders per run; the rest wait ten minutes for the next one


@dataclass(frozen=True)
class Candidate:
    order_id: int
    number: str
    intent_ids: tuple[str, ...]  # newest attempt first
    cutoff: datetime
    minutes: int


def _recent_attempt(cutoff: datetime):  # type: ignore[no-untyped-def]
    return exists().where(
        col(Payment.order_id) == col(Order.id),
        or_(col(Payment.updated_at) >= cutoff, col(Payment.created_at) >= cutoff),
    )


def candidates(*, now: datetime | None = None, minutes: int | None = None) -> list[Candidate]:
    """Pending orders with no change to them or their payment attempts for `minutes` (the setting)."""
    minutes = minutes or get_settings().unpaid_order_minutes
    cutoff = (now or utcnow()) - timedelta(minutes=minutes)
    with unit_of_work(write=False) as session:
        rows = session.exec(
            select(Order.id, Order.number)
            .where(
                Order.status == OrderStatus.pending_payment,
                col(Order.updated_at) < cutoff,
                ~_recent_attempt(cutoff),
            )
            .order_by(col(Order.id))
            .limit(BATCH)
        ).all()
        found = []
        for order_id, number in rows:
            assert order_id is not None
            intents = session.exec(
                select(Payment.intent_id)
                .where(Payment.order_id == order_id, col(Payment.intent_id).is_not(None))
                .order_by(col(Payment.id).desc())
            ).all()
            found.append(Candidate(order_id, number, tuple(i for i in intents if i), cutoff, minutes))
    return found


def _where_stripe_stands(candidate: Candidate) -> tuple[str, PaymentResult | None]:
    """("paid", the succeeded intent) | ("wait", None) | ("dead", None): may the order be cancelled?"""
    for intent_id in candidate.intent_ids:
        try:
            result = retrieve_payment(intent_id)
            if result.status == "requires_action":
                result = cancel_payment(intent_id)
        except PaymentError:
            log.warning(
                "unpaid order: could not ask stripe", extra={"order": candidate.number, "intent": intent_id}
            )
            return "wait", None
        if result.status == "succeeded":
            return "paid", result
        if result.status != "failed":  # processing, or a 3-D Secure Stripe would not cancel
            log.info(
                "unpaid order: payment still under way",
                extra={"order": candidate.number, "intent": intent_id, "stripe_status": result.stripe_status},
            )
            return "wait", None
    return "dead", None


def settle(candidate: Candidate) -> str | None:
    """Ask Stripe, then pay or cancel the order. One line for `storefront reconcile`, or None."""
    verdict, paid = _where_stripe_stands(candidate)
    if verdict == "wait":
        return None
    if verdict == "paid":
        assert paid is not None and paid.intent_id is not None
        with unit_of_work() as session:
            order = session.get(Order, candidate.order_id)
            assert order is not None
            won = orders.mark_paid(
                session, order=order, intent_id=paid.intent_id, amount=paid.amount.amount, actor=ACTOR
            )
        if not won:
            return None
        log.info("unpaid order paid after all", extra={"order": candidate.number, "intent": paid.intent_id})
        return f"{candidate.number} pending_payment -> paid (stripe)"
    with unit_of_work() as session:
        if not _cancel(session, candidate):
            return None
    log.info("unpaid order cancelled", extra={"order": candidate.number, "minutes": candidate.minutes})
    return f"{candidate.number} pending_payment -> cancelled (unpaid for {candidate.minutes} minutes)"


def _cancel(session: Session, candidate: Candidate) -> bool:
    # Takes the order's row (PostgreSQL) or the write lock (SQLite) only if it is still pending and
    # nothing changed since the cut-off: a shopper's claim, a re-submitted checkout or a new attempt
    # since step 1 makes this match nothing, and the order is left alone.
    still_abandoned = session.execute(
        update(Order)
        .where(
            col(Order.id) == candidate.order_id,
            col(Order.status) == OrderStatus.pending_payment,
            col(Order.updated_at) < candidate.cutoff,
            ~_recent_attempt(candidate.cutoff),
        )
        .values(updated_at=col(Order.updated_at))
    )
    if still_abandoned.rowcount != 1:  # type: ignore[attr-defined]
        return False
    order = session.get(Order, candidate.order_id)
    assert order is not None
    message = f"Not paid within {candidate.minutes} minutes: cancelled, and its discount use released."
    if not orders.move(session, order, OrderStatus.cancelled, actor=ACTOR, message=message):
        return False
    discounts.release(session, order=order)
    forget_order(session, order=order)
    return True


def forget_order(session: Session, *, order: Order) -> None:
    """Carts pointing at a cancelled order forget it and keep their lines (cart.service.settle would
    do the same on the shopper's next visit)."""
    session.execute(update(Cart).where(col(Cart.order_id) == order.id).values(order_id=None))


def cancel_abandoned(*, now: datetime | None = None, minutes: int | None = None) -> Iterator[str]:
    """The job: every abandoned order, paid if Stripe says so, else cancelled. One line per change."""
    for candidate in candidates(now=now, minutes=minutes):
        line = settle(candidate)
        if line is not None:
            yield line


def claim_for_payment(session: Session, *, order: Order) -> bool:
    """The Pay path's half of the race: mark the order as being paid now (so the job leaves it), in
    the transaction that records the attempt, before Stripe is asked. False: it is no longer pending
    (cancelled meanwhile), and nothing may be charged."""
    claimed = session.execute(
        update(Order)
        .where(col(Order.id) == order.id, col(Order.status) == OrderStatus.pending_payment)
        .values(updated_at=utcnow())
    )
    return claimed.rowcount == 1  # type: ignore[attr-defined]
