"""The reconciler: a pending_payment order whose webhook was lost is marked paid from Stripe's answer."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select

from store.money import Money
from store.order.models import Order, OrderEvent
from store.order.reconcile import reconcile
from store.payment import pay
from store.timeutil import utcnow
from tests.factories import make_paid_order, order_total
from tests.fakes.localstripe import CARD_DECLINED, CARD_SUCCEEDS, make_payment_method


def unpaid_with_intent(db: Session, stripe_env: str, card: str, *, age_minutes: int) -> Order:
    """An order left pending_payment after Stripe took (or refused) the money: the webhook was lost."""
    result = pay(
        amount=Money(order_total()),
        payment_method=make_payment_method(stripe_env, card),
        idempotency_key=f"test-reconcile-{card}-{age_minutes}-{utcnow().timestamp()}",
        metadata={},
    )
    assert result.intent_id
    order = make_paid_order(db, paid=False, intent_id=result.intent_id)
    order.updated_at = utcnow() - timedelta(minutes=age_minutes)
    db.add(order)
    db.commit()
    return order


def test_reconcile_marks_a_stale_paid_order_paid_once(db, stripe_env):
    stale_paid = unpaid_with_intent(db, stripe_env, CARD_SUCCEEDS, age_minutes=45)
    recent_paid = unpaid_with_intent(db, stripe_env, CARD_SUCCEEDS, age_minutes=5)
    stale_declined = unpaid_with_intent(db, stripe_env, CARD_DECLINED, age_minutes=45)
    make_paid_order(db, paid=False)  # no intent at Stripe yet: never asked about (pi_test_… is ours only)

    first = list(reconcile(older_than_minutes=30))
    again = list(reconcile(older_than_minutes=30))

    assert first == [f"{stale_paid.number} pending_payment -> paid (stripe)"]
    assert again == []
    db.commit()
    db.expire_all()
    statuses = {o.number: (o.paid_at is not None) for o in db.exec(select(Order)).all()}
    assert statuses[stale_paid.number] is True
    assert statuses[recent_paid.number] is False
    assert statuses[stale_declined.number] is False
    moves = db.exec(
        select(OrderEvent.actor).where(OrderEvent.order_id == stale_paid.id, OrderEvent.to_status == "paid")
    ).all()
    assert moves == ["reconcile"]


def test_storefront_reconcile_prints_the_line(db, stripe_env):
    from typer.testing import CliRunner

    from store.cli import app

    order = unpaid_with_intent(db, stripe_env, CARD_SUCCEEDS, age_minutes=45)
    result = CliRunner().invoke(app, ["reconcile", "--older-than", "30"])
    assert result.exit_code == 0, result.output
    assert f"{order.number} pending_payment -> paid (stripe)" in result.output.splitlines()
