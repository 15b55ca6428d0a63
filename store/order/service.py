"""Order rules: numbers and tokens, the status machine, and the one idempotent way to mark paid.

Services never commit; the request or job that calls them owns the transaction.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from store.errors import NotFound
from store.order.models import ORDER_MOVES, Order, OrderEvent, OrderStatus, Payment
from store.timeutil import utcnow

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
    kind: str,
    actor: str,
    message: str = "",
    from_status: str | None = None,
    to_status: str | None = None,
) -> OrderEvent:
    assert order.id is not None
    event = OrderEvent(
        order_id=order.id,
        kind=kind,
        actor=actor,
        message=message,
        from_status=from_status,
        to_status=to_status,
    )
    session.add(event)
    return event


def can_move(current: str, target: str) -> bool:
    return OrderStatus(target) in ORDER_MOVES.get(OrderStatus(current), set())


def move(session: Session, order: Order, to: OrderStatus, *, actor: str, message: str = "") -> bool:
    """Move the order if the table allows it from its CURRENT status in the database.

    A conditional UPDATE: when two workers race, exactly one sees rowcount 1 and writes the event.
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
        session, order, kind="status", actor=actor, message=message, from_status=current, to_status=to
    )
    log.info("order moved", extra={"order": order.number, "from": current, "to": str(to), "actor": actor})
    return True


def mark_paid(session: Session, *, order: Order, intent_id: str, amount: int, actor: str) -> bool:
    """THE way an order becomes paid: from the server's confirm result and from the Stripe webhook.

    Idempotent and race-safe: the conditional move lets exactly one caller win; the others return
    False and do nothing. The winner, in the same transaction, records the payment, writes the
    fulfilment outbox row and queues the confirmation email (both sent only after commit).
    """
    if amount != order.total:
        # Never mark paid on a mismatched amount: flag it for staff instead.
        record_event(
            session,
            order,
            kind="payment",
            actor=actor,
            message=(
                f"Payment {intent_id} of {amount} does not match the order total {order.total}; "
                "not marked paid."
            ),
        )
        log.error("payment amount mismatch", extra={"order": order.number, "intent": intent_id})
        return False
    if not move(session, order, OrderStatus.paid, actor=actor, message=f"Payment {intent_id} succeeded."):
        return False
    payment = session.exec(select(Payment).where(Payment.intent_id == intent_id)).first()
    if payment is not None:
        payment.status = "succeeded"
        payment.updated_at = utcnow()
        session.add(payment)
    from store.fulfilment.service import create_for_order
    from store.order.notifications import queue_confirmation

    create_for_order(session, order=order)
    queue_confirmation(session, order=order)
    return True
