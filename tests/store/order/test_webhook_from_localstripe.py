"""End to end: localstripe signs and sends payment_intent.succeeded to a real server, the order is paid."""

from __future__ import annotations

import time

from sqlmodel import select

from store.config import get_settings
from store.money import Money
from store.order.models import Order, OrderEvent
from store.payment import pay
from store.payment.localstripe_server import register_webhook
from store.webhook.models import InboundEvent
from tests.factories import make_paid_order
from tests.fakes.localstripe import CARD_SUCCEEDS, make_payment_method


def test_a_real_signed_webhook_marks_the_order_paid(db, stripe_env, live_server):
    # given an unpaid order and localstripe sending its events to our server
    register_webhook(
        stripe_env, "orders-test", f"{live_server.url}/webhooks/stripe", get_settings().stripe_webhook_secret
    )
    order = make_paid_order(db, paid=False)
    # when Stripe takes the money (and nobody calls mark_paid from the confirm path)
    result = pay(
        amount=Money(order.total),
        payment_method=make_payment_method(stripe_env, CARD_SUCCEEDS),
        idempotency_key=f"order-{order.number}-pay-2",
        metadata={"order_number": order.number},
    )
    assert result.status == "succeeded"
    # then the webhook alone marks it paid, within a few seconds
    deadline = time.monotonic() + 15
    paid_at = None
    while time.monotonic() < deadline and paid_at is None:
        time.sleep(0.2)
        db.commit()
        db.expire_all()
        paid_at = db.exec(select(Order.paid_at).where(Order.id == order.id)).one()
    assert paid_at is not None
    moves = db.exec(
        select(OrderEvent.actor, OrderEvent.message).where(
            OrderEvent.order_id == order.id, OrderEvent.to_status == "paid"
        )
    ).all()
    assert [tuple(m) for m in moves] == [("stripe", f"Payment {result.intent_id} succeeded.")]
    stored = db.exec(select(InboundEvent).where(InboundEvent.type == "payment_intent.succeeded")).all()
    assert len(stored) == 1 and stored[0].processed_at is not None
