"""Order rules: numbers and tokens, the status machine, and the one idempotent way to mark paid.

Services never commit; the request or job that calls them owns the transaction.
"""

from __future__ import annotations

import logging
import secrets
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from store.errors import DomainError, NotFound
from store.order.models import (
    ORDER_MOVES,
    Order,
    OrderEvent,
    OrderEventType,
    OrderStatus,
    Payment,
    Refund,
    RefundStatus,
)
from store.timeutil import utcnow

if TYPE_CHECKING:
    from store.order.notifications import Confirmation

log = logging.getLogger("store.order")

# Crockford-style alphabet: no 0/O or 1/I/L to misread on a phone call; safe for Printful's external_id.
_NUMBER_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def new_order_number() -> str:
    """RRM-XXXXXXXX: short, unique in practice (31^8 ≈ 8.5e11; the UNIQUE index has the last word)."""
    return "RRM-" + "".join(secrets.choice(_NUMBER_ALPHABET) for _ in range(8))


def new_order_token() -> str:
    return secrets.token_urlsafe(24)


def get_by_token(session: Session, token: str) -> Order:
    order = session.exec(select(Order).where(Order.token == token)).first()
    if order is None:
        raise NotFound("No such order.")
    return order


def get_by_number(session: Session, number: str) -> Order:
    order = session.exec(select(Order).where(Order.number == number)).first()
    if order is None:
        raise NotFound("No such order.")
    return order


def record_event(
    session: Session,
    order: Order,
    *,
    kind: OrderEventType,
    actor: str,
    message: str = "",
    data: dict[str, Any] | None = None,
    from_status: str | None = None,
    to_status: str | None = None,
) -> OrderEvent:
    """One line of the order's timeline: its type and facts (`data`) for code, `message` for staff."""
    assert order.id is not None
    event = OrderEvent(
        order_id=order.id,
        kind=OrderEventType(kind),
        data=data or {},
        actor=actor,
        message=message,
        from_status=from_status,
        to_status=to_status,
    )
    session.add(event)
    return event


def can_move(current: str, target: str) -> bool:
    return OrderStatus(target) in ORDER_MOVES.get(OrderStatus(current), set())


def move(
    session: Session,
    order: Order,
    to: OrderStatus,
    *,
    actor: str,
    message: str = "",
    event: OrderEventType = OrderEventType.status_changed,
    data: dict[str, Any] | None = None,
) -> bool:
    """Move the order if the table allows it from its CURRENT status in the database.

    A conditional UPDATE: when two workers race, exactly one sees rowcount 1 and writes the event
    (`event` and `data` name what made it move, e.g. payment_succeeded {intent_id, amount}).
    Returns False (and changes nothing) if the move is not allowed or someone else moved it first.
    """
    assert order.id is not None
    session.flush()
    current = session.exec(select(Order.status).where(Order.id == order.id)).one()
    if not can_move(current, to):
        return False
    now = utcnow()
    values: dict[str, Any] = {"status": str(to), "updated_at": now}
    if to == OrderStatus.paid:
        values["paid_at"] = now
    result = session.execute(
        update(Order).where(col(Order.id) == order.id, col(Order.status) == current).values(**values)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    session.refresh(order)
    record_event(
        session,
        order,
        kind=event,
        actor=actor,
        message=message,
        data=data,
        from_status=current,
        to_status=to,
    )
    log.info("order moved", extra={"order": order.number, "from": current, "to": str(to), "actor": actor})
    return True


def lock_order(session: Session, number: str) -> Order:
    """The order, locked for the rest of this transaction (refunds and cancellations serialise here).

    A no-op UPDATE takes the row lock on PostgreSQL and the write lock on SQLite (where SELECT … FOR
    UPDATE does nothing), so two staff members refunding at once are served one after the other.
    """
    result = session.execute(
        update(Order).where(col(Order.number) == number).values(updated_at=col(Order.updated_at))
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise NotFound("No such order.")
    return session.exec(
        select(Order).where(Order.number == number).execution_options(populate_existing=True)
    ).one()


def _payment_status(session: Session, intent_id: str, status: str, message: str = "") -> None:
    """Forward-only: a succeeded payment never goes back to failed, whatever arrives late."""
    payment = session.exec(select(Payment).where(Payment.intent_id == intent_id)).first()
    if payment is None or payment.status == "succeeded" or payment.status == status:
        return
    payment.status = status
    if message:
        payment.failure_message = message[:500]
    payment.updated_at = utcnow()
    session.add(payment)


def mark_paid(
    session: Session,
    *,
    order: Order,
    intent_id: str,
    amount: int,
    actor: str,
    confirmation: Confirmation | None = None,
) -> bool:
    """THE way an order becomes paid: from the server's confirm result and from the Stripe webhook.

    Idempotent and race-safe: the conditional move lets exactly one caller win; the others return
    False and do nothing. The winner, in the same transaction, records the payment, writes the
    fulfilment outbox row and queues the confirmation email (both sent only after commit):
    `confirmation` if the caller rendered it before its first write, else rendered here.
    """
    if amount != order.total:
        # Never mark paid on a mismatched amount: flag it for staff instead.
        record_event(
            session,
            order,
            kind=OrderEventType.payment_mismatch,
            actor=actor,
            message=(
                f"Payment {intent_id} of {amount} does not match the order total {order.total}; "
                "not marked paid."
            ),
            data={"intent_id": intent_id, "amount": amount, "expected": order.total},
        )
        log.error("payment amount mismatch", extra={"order": order.number, "intent": intent_id})
        return False
    won = move(
        session,
        order,
        OrderStatus.paid,
        actor=actor,
        message=f"Payment {intent_id} succeeded.",
        event=OrderEventType.payment_succeeded,
        data={"intent_id": intent_id, "amount": amount},
    )
    _payment_status(session, intent_id, "succeeded")
    if not won:
        _flag_second_payment(session, order=order, intent_id=intent_id, amount=amount, actor=actor)
        return False
    order.paid_intent_id = intent_id
    session.add(order)
    from store.fulfilment.service import create_for_order
    from store.order.notifications import queue_confirmation

    queue_confirmation(session, order=order, rendered=confirmation)
    create_for_order(session, order=order)
    return True


def _flag_second_payment(session: Session, *, order: Order, intent_id: str, amount: int, actor: str) -> None:
    """A different intent succeeded for an order already paid (a double charge), or any intent for an
    order cancelled unpaid (store.checkout.unpaid): money staff must refund.

    Recorded once per intent, however often the news arrives (found by type and data, not by words)."""
    session.refresh(order)
    money = order.money(amount).format()
    if order.paid_intent_id is None and order.status == OrderStatus.cancelled:
        kind = OrderEventType.payment_after_cancellation
        message = (
            f"Payment {intent_id} of {money} succeeded after the order was cancelled. Refund it in Stripe."
        )
        data: dict[str, Any] = {"intent_id": intent_id, "amount": amount}
    elif order.paid_intent_id is None or order.paid_intent_id == intent_id:
        return
    else:
        kind = OrderEventType.second_payment
        message = (
            f"Second payment {intent_id} of {money} succeeded, but the order was already paid by "
            f"{order.paid_intent_id}. Refund it in Stripe."
        )
        data = {"intent_id": intent_id, "amount": amount, "paid_by": order.paid_intent_id}
    seen = session.exec(
        select(OrderEvent.id).where(
            OrderEvent.order_id == order.id,
            OrderEvent.kind == kind,
            col(OrderEvent.data)["intent_id"].as_string() == intent_id,
        )
    ).first()
    if seen is not None:
        return
    record_event(session, order, kind=kind, actor=actor, message=message, data=data)
    log.error("payment to refund", extra={"order": order.number, "intent": intent_id, "status": order.status})


def record_payment_failed(
    session: Session, *, order: Order, intent_id: str | None, message: str, actor: str
) -> None:
    """A declined or failed attempt (the webhook's news, or the checkout's own answer from Stripe):
    on the timeline, never a status change (the shopper may retry)."""
    if intent_id:
        _payment_status(session, intent_id, "failed", message)
    record_event(
        session,
        order,
        kind=OrderEventType.payment_failed,
        actor=actor,
        message=f"Payment {intent_id or 'attempt'} failed: {(message or 'no reason given').rstrip('.')}.",
        data={"intent_id": intent_id, "reason": message},
    )


# --------------------------------------------------------------------------------------------------
# Refunds and cancellation. The Stripe call itself is in store.order.refunds (outside any transaction);
# here: the rules and the rows.
# --------------------------------------------------------------------------------------------------

CANCELLABLE = frozenset(
    {OrderStatus.pending_payment, OrderStatus.paid, OrderStatus.submitted, OrderStatus.on_hold}
)


def refund_committed(session: Session, order: Order) -> int:
    """Pence refunded or on their way (pending): what no further refund may take again."""
    total = session.exec(
        select(func.coalesce(func.sum(Refund.amount), 0)).where(
            Refund.order_id == order.id,
            col(Refund.status).in_([RefundStatus.pending, RefundStatus.succeeded]),
        )
    ).one()
    return int(total)


def refundable(session: Session, order: Order) -> int:
    """What may still be refunded: what was paid, less every refund made or pending."""
    if order.paid_at is None or not order.paid_intent_id:
        return 0
    return max(order.total - refund_committed(session, order), 0)


def begin_refund(
    session: Session, *, order: Order, amount: int | None, staff_email: str, reason: str = ""
) -> Refund:
    """Check the amount and write the pending Refund row with the idempotency key we will send.

    `order` must have been locked with lock_order in this transaction. amount None: all that is left.
    Raises DomainError (field "amount") when there is nothing to refund or too much is asked.
    """
    if order.paid_at is None or not order.paid_intent_id:
        raise DomainError("This order has not been paid, so there is nothing to refund.", field="amount")
    left = refundable(session, order)
    if left <= 0:
        raise DomainError("Nothing is left to refund on this order.", field="amount")
    if amount is None:
        amount = left
    if amount <= 0:
        raise DomainError("Enter an amount of at least £0.01.", field="amount")
    if amount > left:
        raise DomainError(
            f"That is more than is left to refund. The most you can refund is {order.money(left).format()}.",
            field="amount",
        )
    count = session.exec(select(func.count()).select_from(Refund).where(Refund.order_id == order.id)).one()
    refund = Refund(
        order_id=order.id,  # type: ignore[arg-type]
        idempotency_key=f"order-{order.number}-refund-{int(count) + 1}",
        amount=amount,
        reason=reason[:500],
        staff_email=staff_email,
        status=RefundStatus.pending,
    )
    session.add(refund)
    session.flush()
    log.info(
        "refund requested",
        extra={"order": order.number, "refund_key": refund.idempotency_key, "amount": amount},
    )
    return refund


def complete_refund(session: Session, *, refund_id: int, stripe_refund_id: str, actor: str) -> bool:
    """Stripe made the refund: count it, put it on the timeline, and move a fully refunded order.

    Idempotent: a refund already settled is left alone (False)."""
    refund = session.get(Refund, refund_id)
    if refund is None:
        raise NotFound("No such refund.")
    order = lock_order(session, _number_of(session, refund.order_id))
    session.refresh(refund)
    if refund.status != RefundStatus.pending:
        return False
    refund.status = RefundStatus.succeeded
    refund.stripe_refund_id = stripe_refund_id
    refund.updated_at = utcnow()
    session.add(refund)
    order.amount_refunded += refund.amount
    session.add(order)
    whole = order.amount_refunded >= order.total
    record_event(
        session,
        order,
        kind=OrderEventType.refund_succeeded,
        actor=actor,
        message=(
            f"Refunded {order.money(refund.amount).format()}"
            f"{' in full' if whole else ''} ({stripe_refund_id}). "
            f"{order.money(order.amount_refunded).format()} of {order.money(order.total).format()} refunded."
        ),
        data={
            "refund_id": refund.id,
            "stripe_refund_id": stripe_refund_id,
            "amount": refund.amount,
            "refunded": order.amount_refunded,
            "in_full": whole,
        },
    )
    if whole:
        move(session, order, OrderStatus.refunded, actor=actor, message="Refunded in full.")
    return True


def fail_refund(session: Session, *, refund_id: int, message: str, actor: str) -> bool:
    """Stripe refused: the refund counts for nothing; the timeline says why. Idempotent."""
    refund = session.get(Refund, refund_id)
    if refund is None:
        raise NotFound("No such refund.")
    order = lock_order(session, _number_of(session, refund.order_id))
    session.refresh(refund)
    if refund.status != RefundStatus.pending:
        return False
    refund.status = RefundStatus.failed
    refund.failure_message = message[:500]
    refund.updated_at = utcnow()
    session.add(refund)
    record_event(
        session,
        order,
        kind=OrderEventType.refund_failed,
        actor=actor,
        message=f"Refund of {order.money(refund.amount).format()} failed: {message}",
        data={"refund_id": refund.id, "amount": refund.amount, "reason": message},
    )
    return True


def _number_of(session: Session, order_id: int) -> str:
    return session.exec(select(Order.number).where(Order.id == order_id)).one()


def check_cancellable(order: Order) -> None:
    """DomainError unless the order may still be cancelled (before production)."""
    if order.status not in CANCELLABLE:
        raise DomainError(
            f"This order can no longer be cancelled: it is {order.status}. Cancel only before production."
        )


def cancel(session: Session, *, order: Order, actor: str, reason: str = "") -> None:
    """Move an order (locked with lock_order) to cancelled. Stopping its fulfilment first, and refunding
    a paid order after, are the caller's steps (store.order.refunds.cancel_order does all three)."""
    check_cancellable(order)
    was_unpaid = order.status == OrderStatus.pending_payment
    if not move(session, order, OrderStatus.cancelled, actor=actor, message=reason or "Cancelled."):
        session.refresh(order)
        raise DomainError(f"This order can no longer be cancelled: it is {order.status}.")
    if was_unpaid:  # an unpaid order gives its discount code's use back for another shopper
        from store.checkout.discounts import release

        release(session, order=order)
