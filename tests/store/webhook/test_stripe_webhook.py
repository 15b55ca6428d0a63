"""POST /webhooks/stripe: verify, store once, answer, then process (inline here: huey is immediate)."""

from __future__ import annotations

import time
from datetime import timedelta

from sqlmodel import Session, func, select

from store.fulfilment.models import Fulfilment
from store.mail.models import OutboundEmail
from store.order.models import Order, OrderEvent, OrderStatus, Payment
from store.order.service import move
from store.webhook.models import InboundEvent
from store.webhook.service import store_inbound
from store.webhook.tasks import sweep_unprocessed
from tests.factories import make_paid_order
from tests.fakes.stripe_events import intent_event, post_event, sign


def count(db: Session, model: type, *where: object) -> int:
    db.commit()  # a new snapshot: see what the app committed
    db.expire_all()
    return int(db.exec(select(func.count()).select_from(model).where(*where)).one())  # type: ignore[call-overload]


def paid_moves(db: Session, order: Order) -> list[tuple[str | None, str | None, str]]:
    """The order's moves to `paid` (fulfilment may move it on to `submitted` right after; not ours)."""
    db.commit()
    db.expire_all()
    rows = db.exec(
        select(OrderEvent)
        .where(
            OrderEvent.order_id == order.id,
            OrderEvent.kind == "payment_succeeded",
            OrderEvent.to_status == "paid",
        )
        .order_by(OrderEvent.id)
    ).all()
    return [(e.from_status, e.to_status, e.actor) for e in rows]


def fresh(db: Session, order: Order) -> Order:
    db.commit()
    db.expire_all()
    found = db.get(Order, order.id)
    assert found is not None
    return found


# --- signatures ---------------------------------------------------------------------------------


def test_missing_signature_is_400_and_nothing_is_stored(client, db):
    body = intent_event("payment_intent.succeeded", intent_id="pi_x", amount=100)
    response = client.post("/webhooks/stripe", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json() == {"detail": "Invalid signature"}
    assert count(db, InboundEvent) == 0


def test_bad_signature_is_400_and_nothing_is_stored(client, db):
    body = intent_event("payment_intent.succeeded", intent_id="pi_x", amount=100)
    response = post_event(client, body, secret="whsec_someone_else")
    assert response.status_code == 400
    assert count(db, InboundEvent) == 0


def test_body_changed_after_signing_is_400(client, db):
    body = intent_event("payment_intent.succeeded", intent_id="pi_x", amount=100)
    header = sign(body)
    response = client.post(
        "/webhooks/stripe", content=body.replace(b"100", b"999"), headers={"Stripe-Signature": header}
    )
    assert response.status_code == 400
    assert count(db, InboundEvent) == 0


def test_signature_older_than_300_seconds_is_400(client, db):
    order = make_paid_order(db, paid=False)
    body = intent_event("payment_intent.succeeded", intent_id=f"pi_test_{order.number}", amount=order.total)
    response = post_event(client, body, timestamp=int(time.time()) - 301)
    assert response.status_code == 400
    assert count(db, InboundEvent) == 0
    assert fresh(db, order).status == OrderStatus.pending_payment


def test_signature_290_seconds_old_is_accepted(client, db):
    body = intent_event("payment_intent.succeeded", intent_id="pi_nobody", amount=100)
    response = post_event(client, body, timestamp=int(time.time()) - 290)
    assert response.status_code == 200


# --- effects ------------------------------------------------------------------------------------


def test_succeeded_marks_the_order_paid_once_and_a_redelivery_does_nothing(client, db):
    # given an unpaid order whose payment attempt has intent pi_test_<number>
    order = make_paid_order(db, paid=False)
    body = intent_event(
        "payment_intent.succeeded", intent_id=f"pi_test_{order.number}", amount=order.total, event_id="evt_1"
    )
    # when Stripe delivers payment_intent.succeeded, then the same event again
    first = post_event(client, body)
    second = post_event(client, body)
    # then the order is paid exactly once, with one of everything
    assert (first.status_code, first.json()) == (200, {"received": True})
    assert (second.status_code, second.json()) == (200, {"received": True, "duplicate": True})
    paid = fresh(db, order)
    assert paid.paid_at is not None
    assert paid.paid_intent_id == f"pi_test_{order.number}"
    assert paid_moves(db, order) == [("pending_payment", "paid", "stripe")]
    assert count(db, OutboundEmail) == 1
    assert count(db, Fulfilment, Fulfilment.order_id == order.id) == 1
    assert count(db, InboundEvent) == 1
    event = db.exec(select(InboundEvent)).one()
    assert (event.source, event.external_id, event.type) == ("stripe", "evt_1", "payment_intent.succeeded")
    assert event.processed_at is not None and event.error == "" and event.attempts == 1
    payment = db.exec(select(Payment).where(Payment.order_id == order.id)).one()
    assert payment.status == "succeeded"


def test_an_intent_we_never_stored_finds_its_order_by_metadata(client, db):
    # the webhook can beat the confirm path's commit of the intent id: metadata carries the number
    order = make_paid_order(db, paid=False, intent_id="pi_attempt_1")
    body = intent_event(
        "payment_intent.succeeded",
        intent_id="pi_not_yet_stored",
        amount=order.total,
        order_number=order.number,
    )
    assert post_event(client, body).status_code == 200
    paid = fresh(db, order)
    assert paid.paid_intent_id == "pi_not_yet_stored"
    assert paid_moves(db, order) == [("pending_payment", "paid", "stripe")]


def test_a_wrong_amount_never_marks_paid(client, db):
    order = make_paid_order(db, paid=False)
    body = intent_event(
        "payment_intent.succeeded", intent_id=f"pi_test_{order.number}", amount=order.total - 1
    )
    assert post_event(client, body).status_code == 200
    assert fresh(db, order).status == OrderStatus.pending_payment
    assert count(db, OutboundEmail) == 0


def test_payment_failed_is_on_the_timeline_and_the_order_stays_unpaid(client, db):
    order = make_paid_order(db, paid=False)
    body = intent_event(
        "payment_intent.payment_failed",
        intent_id=f"pi_test_{order.number}",
        amount=order.total,
        error="Your card was declined.",
    )
    assert post_event(client, body).status_code == 200
    assert fresh(db, order).status == OrderStatus.pending_payment
    db.commit()
    db.expire_all()
    events = db.exec(select(OrderEvent).where(OrderEvent.order_id == order.id)).all()
    assert [(e.kind, e.actor, e.message, e.data) for e in events] == [
        (
            "payment_failed",
            "stripe",
            f"Payment pi_test_{order.number} failed: Your card was declined.",
            {"intent_id": f"pi_test_{order.number}", "reason": "Your card was declined."},
        )
    ]
    assert db.exec(select(Payment).where(Payment.order_id == order.id)).one().status == "failed"


def test_a_late_failure_after_success_changes_nothing(client, db):
    # given a paid order (succeeded arrived first)
    order = make_paid_order(db, paid=True)
    before = fresh(db, order).status
    assert before != OrderStatus.pending_payment
    # when an older payment_failed for the same intent arrives late
    body = intent_event(
        "payment_intent.payment_failed", intent_id=f"pi_test_{order.number}", amount=order.total
    )
    assert post_event(client, body).status_code == 200
    # then the order and its payment stay succeeded
    assert fresh(db, order).status == before
    assert db.exec(select(Payment).where(Payment.order_id == order.id)).one().status == "succeeded"
    assert paid_moves(db, order) == [("pending_payment", "paid", "stripe")]


def test_a_stale_succeeded_never_moves_a_shipped_order_back(client, db):
    order = make_paid_order(db, paid=True)
    assert move(db, order, OrderStatus.shipped, actor="staff:test")
    db.commit()
    db.expire_all()
    body = intent_event("payment_intent.succeeded", intent_id=f"pi_test_{order.number}", amount=order.total)
    assert post_event(client, body).status_code == 200
    assert fresh(db, order).status == OrderStatus.shipped
    assert paid_moves(db, order) == [("pending_payment", "paid", "stripe")]
    assert count(db, OutboundEmail) == 1


def test_a_second_intent_succeeding_for_a_paid_order_is_flagged_once(client, db):
    order = make_paid_order(db, paid=True)
    for _ in range(2):
        body = intent_event(
            "payment_intent.succeeded", intent_id="pi_second", amount=order.total, order_number=order.number
        )
        assert post_event(client, body).status_code == 200
    db.commit()
    db.expire_all()
    flagged = db.exec(
        select(OrderEvent).where(OrderEvent.order_id == order.id, OrderEvent.kind == "second_payment")
    ).all()
    assert len(flagged) == 1
    assert flagged[0].message.startswith("Second payment pi_second of £28.95 succeeded")
    assert flagged[0].data == {"intent_id": "pi_second", "amount": 2895, "paid_by": f"pi_test_{order.number}"}
    assert fresh(db, order).paid_intent_id == f"pi_test_{order.number}"


def test_events_of_other_types_are_stored_and_marked_processed(client, db):
    body = intent_event("customer.created", intent_id="cus_1", amount=0)
    assert post_event(client, body).status_code == 200
    event = db.exec(select(InboundEvent)).one()
    assert event.processed_at is not None


# --- lost enqueues and failures -----------------------------------------------------------------


def test_the_sweep_processes_an_event_whose_enqueue_was_lost(db):
    # given an event stored but never processed (the queue push was lost), two minutes ago
    order = make_paid_order(db, paid=False)
    body = intent_event("payment_intent.succeeded", intent_id=f"pi_test_{order.number}", amount=order.total)
    import json

    payload = json.loads(body)
    row_id = store_inbound(
        db, source="stripe", external_id=payload["id"], type=payload["type"], payload=payload
    )
    row = db.get(InboundEvent, row_id)
    assert row is not None
    row.received_at = row.received_at - timedelta(minutes=3)
    db.add(row)
    db.commit()
    db.expire_all()
    # when the sweep runs (twice)
    assert sweep_unprocessed() == 1
    assert sweep_unprocessed() == 0
    # then the order is paid once
    assert paid_moves(db, order) == [("pending_payment", "paid", "stripe")]


def test_store_inbound_answers_none_for_a_duplicate(db):
    first = store_inbound(db, source="printful", external_id="abc", type="package_shipped", payload={"a": 1})
    again = store_inbound(db, source="printful", external_id="abc", type="package_shipped", payload={"a": 2})
    other_source = store_inbound(db, source="stripe", external_id="abc", type="x", payload={})
    db.commit()
    db.expire_all()
    assert first is not None and again is None and other_source is not None
    assert count(db, InboundEvent) == 2


def test_a_failing_handler_marks_the_event_failed_and_keeps_none_of_its_writes(client, db, monkeypatch):
    order = make_paid_order(db, paid=False)

    def broken(*args, **kwargs):
        raise RuntimeError("provider exploded")

    monkeypatch.setattr("store.fulfilment.service.create_for_order", broken)
    body = intent_event("payment_intent.succeeded", intent_id=f"pi_test_{order.number}", amount=order.total)
    assert post_event(client, body).status_code == 200
    event = db.exec(select(InboundEvent)).one()
    assert event.processed_at is None
    assert event.error == "RuntimeError: provider exploded"
    assert event.attempts == 1
    assert fresh(db, order).status == OrderStatus.pending_payment
    assert count(db, OrderEvent) == 0
    # and once the fault is gone, the sweep finishes the job
    monkeypatch.undo()
    event.received_at = event.received_at - timedelta(minutes=3)
    db.add(event)
    db.commit()
    db.expire_all()
    assert sweep_unprocessed() == 1
    assert paid_moves(db, order) == [("pending_payment", "paid", "stripe")]
