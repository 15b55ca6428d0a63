"""Refunds and cancellations as staff (and the reconciler) run them: each owns its transactions.

The order of steps is the point:
1. one transaction checks the amount under the order's lock and COMMITS a pending Refund row holding
   the idempotency key we will send (`order-{number}-refund-{n}`);
2. Stripe is asked, outside any transaction, with that key;
3. a second transaction settles the row: succeeded (counted, on the timeline, a full refund moves the
   order to `refunded`) or failed (counts for nothing).
A crash or a timeout between 2 and 3 leaves the row pending: it still blocks that money from being
refunded again, and the reconciler asks Stripe again with the SAME key, so Stripe replays its answer
instead of paying out twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.engine import Engine

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


def cancel_order(*, number: str, actor: str, staff_email: str = "", engine: Engine | None = None) -> str:
    """Cancel before production; a paid order is then refunded in full. The message for staff.

    Raises DomainError when the order can no longer be cancelled (nothing changes)."""
    with unit_of_work(engine) as session:
        order = service.lock_order(session, number)
        service.cancel(session, order=order, actor=actor, reason="Cancelled by staff.")
        refund_id = None
        if service.refundable(session, order) > 0:
            refund = service.begin_refund(
                session, order=order, amount=None, staff_email=staff_email, reason="Order cancelled."
            )
            refund_id = refund.id
    if refund_id is None:
        return "Order cancelled."
    outcome = settle_refund(refund_id, actor=actor, engine=engine)
    if outcome.status == "succeeded":
        return f"Order cancelled and {outcome.amount.format()} refunded."
    return f"Order cancelled. {outcome.message}"
