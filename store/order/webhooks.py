"""What Stripe's payment events mean for an order. Found by store.webhook through the registry."""

from __future__ import annotations

import logging

from sqlmodel import Session, select

from store.order import service
from store.order.models import Order, Payment
from store.webhook.models import InboundEvent
from store.webhook.service import event_object, handles

log = logging.getLogger("store.order")


def _order_for_intent(session: Session, intent: dict) -> Order | None:  # type: ignore[type-arg]
    """By our stored Payment first; else by the order number we put in the intent's metadata."""
    intent_id = intent.get("id")
    if isinstance(intent_id, str):
        payment = session.exec(select(Payment).where(Payment.intent_id == intent_id)).first()
        if payment is not None:
            return session.get(Order, payment.order_id)
    metadata = intent.get("metadata") or {}
    number = metadata.get("order_number") if isinstance(metadata, dict) else None
    if isinstance(number, str) and number:
        return session.exec(select(Order).where(Order.number == number)).first()
    return None


@handles("stripe", "payment_intent.succeeded")
def payment_succeeded(session: Session, event: InboundEvent) -> None:
    intent = event_object(event)
    order = _order_for_intent(session, intent)
    if order is None:  # a donation's intent, or not ours: nothing for orders to do
        log.info("succeeded intent without an order", extra={"intent": intent.get("id")})
        return
    amount = intent.get("amount_received") or intent.get("amount") or 0
    service.mark_paid(session, order=order, intent_id=str(intent["id"]), amount=int(amount), actor="stripe")


@handles("stripe", "payment_intent.payment_failed")
def payment_failed(session: Session, event: InboundEvent) -> None:
    intent = event_object(event)
    order = _order_for_intent(session, intent)
    if order is None:
        return
    error = intent.get("last_payment_error") or {}
    message = ""
    if isinstance(error, dict):
        message = str(error.get("message") or error.get("decline_code") or error.get("code") or "")
    service.record_payment_failed(
        session, order=order, intent_id=str(intent.get("id")), message=message, actor="stripe"
    )
