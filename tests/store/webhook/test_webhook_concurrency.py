"""Duplicate and concurrent deliveries on PostgreSQL, through a real server: one effect, ever."""

from __future__ import annotations

import threading

import httpx
import pytest
from sqlmodel import Session, func, select

from store.fulfilment.models import Fulfilment
from store.mail.models import OutboundEmail
from store.order.models import OrderEvent
from store.webhook.models import InboundEvent
from tests.factories import make_paid_order
from tests.fakes.stripe_events import intent_event, sign

pytestmark = pytest.mark.postgres
N = 10


def deliver_at_once(url: str, bodies: list[bytes]) -> list[httpx.Response]:
    barrier = threading.Barrier(len(bodies))
    answers: list[httpx.Response | BaseException] = [RuntimeError("not run")] * len(bodies)

    def send(i: int) -> None:
        with httpx.Client(timeout=30) as http:
            headers = {"Stripe-Signature": sign(bodies[i]), "Content-Type": "application/json"}
            barrier.wait()
            try:
                answers[i] = http.post(f"{url}/webhooks/stripe", content=bodies[i], headers=headers)
            except BaseException as exc:  # noqa: BLE001
                answers[i] = exc

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(isinstance(a, httpx.Response) for a in answers), answers
    return answers  # type: ignore[return-value]


def count(db: Session, model: type, *where: object) -> int:
    db.commit()
    return int(db.exec(select(func.count()).select_from(model).where(*where)).one())  # type: ignore[call-overload]


def test_the_same_event_ten_times_at_once_has_one_effect(db, live_server):
    # given an unpaid order
    order = make_paid_order(db, paid=False)
    body = intent_event(
        "payment_intent.succeeded",
        intent_id=f"pi_test_{order.number}",
        amount=order.total,
        event_id="evt_same",
    )
    # when Stripe delivers the same event 10 times at the same instant
    answers = deliver_at_once(live_server.url, [body] * N)
    # then every delivery is answered 200, one is stored, and the order is paid exactly once
    assert [a.status_code for a in answers] == [200] * N
    assert sorted(a.json().get("duplicate", False) for a in answers) == [False] + [True] * (N - 1)
    assert count(db, InboundEvent) == 1
    assert count(db, OrderEvent, OrderEvent.order_id == order.id, OrderEvent.to_status == "paid") == 1
    assert count(db, OutboundEmail) == 1
    assert count(db, Fulfilment, Fulfilment.order_id == order.id) == 1


def test_ten_different_events_for_one_payment_at_once_have_one_effect(db, live_server):
    # Stripe may send payment_intent.succeeded under several event ids (and the confirm path races them)
    order = make_paid_order(db, paid=False)
    bodies = [
        intent_event(
            "payment_intent.succeeded",
            intent_id=f"pi_test_{order.number}",
            amount=order.total,
            event_id=f"evt_{i}",
        )
        for i in range(N)
    ]
    answers = deliver_at_once(live_server.url, bodies)
    assert [a.status_code for a in answers] == [200] * N
    assert count(db, InboundEvent) == N
    assert count(db, InboundEvent, InboundEvent.processed_at.is_not(None)) == N  # type: ignore[union-attr]
    assert count(db, OrderEvent, OrderEvent.order_id == order.id, OrderEvent.to_status == "paid") == 1
    assert count(db, OutboundEmail) == 1
    assert count(db, Fulfilment, Fulfilment.order_id == order.id) == 1
