"""`storefront reconcile`, the order part: repair what a lost Stripe webhook (or a crash) left behind.

* pending_payment orders untouched for N minutes that have a PaymentIntent: ask Stripe; a succeeded
  intent marks the order paid through the same mark_paid as the webhook and the confirm path;
* refunds left pending (Stripe did not answer, or we crashed after asking): ask again with the SAME
  idempotency key, so Stripe replays the first answer rather than paying out twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta

from sqlmodel import col, select

from store.db import unit_of_work
from store.order import refunds, service
from store.order.models import Order, OrderStatus, Payment, Refund, RefundStatus
from store.payment import PaymentError, retrieve_payment
from store.timeutil import utcnow

log = logging.getLogger("store.order")


def reconcile(older_than_minutes: int = 30) -> Iterator[str]:
    """One line per order changed, e.g. "RRM-AB23CD45 pending_payment -> paid (stripe)"."""
    cutoff = utcnow() - timedelta(minutes=older_than_minutes)
    with unit_of_work() as session:
        rows = session.exec(
            select(Order.id, Order.number, Payment.intent_id)
            .join(Payment, col(Payment.order_id) == col(Order.id))
            .where(
                Order.status == OrderStatus.pending_payment,
                col(Order.updated_at) < cutoff,
                col(Payment.intent_id).is_not(None),
            )
            .order_by(col(Order.id), col(Payment.id).desc())
        ).all()
        pending_refunds = session.exec(
            select(Refund.id, Order.number, Refund.idempotency_key)
            .join(Order, col(Order.id) == col(Refund.order_id))
            .where(Refund.status == RefundStatus.pending, col(Refund.updated_at) < cutoff)
            .order_by(col(Refund.id))
        ).all()
    intents: dict[int, tuple[str, list[str]]] = {}
    for order_id, number, intent_id in rows:
        assert order_id is not None and intent_id is not None
        intents.setdefault(order_id, (number, []))[1].append(intent_id)
    for order_id, (number, intent_ids) in intents.items():
        for intent_id in intent_ids:  # newest attempt first
            try:
                result = retrieve_payment(intent_id)
            except PaymentError:
                log.warning("reconcile could not ask stripe", extra={"order": number, "intent": intent_id})
                continue
            if result.status != "succeeded":
                continue
            with unit_of_work() as session:
                order = session.get(Order, order_id)
                assert order is not None
                won = service.mark_paid(
                    session, order=order, intent_id=intent_id, amount=result.amount.amount, actor="reconcile"
                )
            if won:
                log.info("reconcile marked paid", extra={"order": number, "intent": intent_id})
                yield f"{number} pending_payment -> paid (stripe)"
            break
    for refund_id, number, key in pending_refunds:
        assert refund_id is not None
        outcome = refunds.settle_refund(refund_id, actor="reconcile")
        if outcome.status != "pending":
            yield f"{number} refund {key} pending -> {outcome.status} (stripe)"
