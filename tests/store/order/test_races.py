"""Races on PostgreSQL: real transactions in threads, started together by a barrier."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlmodel import Session, func, select

from store.db import get_engine, unit_of_work
from store.errors import DomainError
from store.fulfilment.models import Fulfilment
from store.mail.models import OutboundEmail
from store.order import refunds
from store.order.models import Order, OrderEvent, Refund
from store.order.service import mark_paid
from tests.factories import make_paid_order
from tests.fakes.localstripe import get_object

pytestmark = pytest.mark.postgres


def race(n: int, work: Callable[[int], Any]) -> list[Any]:
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except BaseException as exc:  # noqa: BLE001
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_mark_paid_from_the_confirm_path_and_the_webhook_has_one_winner(db: Session):
    for _ in range(5):
        order = make_paid_order(db, paid=False)
        intent = f"pi_test_{order.number}"

        def pay(i: int) -> bool:
            with unit_of_work(get_engine()) as session:
                mine = session.get(Order, order.id)
                assert mine is not None
                return mark_paid(
                    session,
                    order=mine,
                    intent_id=intent,
                    amount=mine.total,
                    actor="stripe" if i % 2 else "checkout",
                )

        results = race(8, pay)
        assert sorted(results) == [False] * 7 + [True]
        db.commit()
        assert (
            db.exec(
                select(func.count())
                .select_from(OrderEvent)
                .where(OrderEvent.order_id == order.id, OrderEvent.to_status == "paid")
            ).one()
            == 1
        )
        assert (
            db.exec(select(func.count()).select_from(Fulfilment).where(Fulfilment.order_id == order.id)).one()
            == 1
        )
        assert (
            db.exec(
                select(func.count())
                .select_from(OutboundEmail)
                .where(OutboundEmail.key == f"order-{order.number}-confirmation")
            ).one()
            == 1
        )


def test_two_staff_refunding_everything_at_once_refund_it_once(
    db: Session, stripe_paid_order, localstripe_url
):
    order = stripe_paid_order()
    results = race(
        4,
        lambda i: refunds.refund_order(
            number=order.number, amount=None, actor=f"staff:{i}", staff_email=f"{i}@x"
        ),
    )
    done = [r for r in results if isinstance(r, refunds.RefundOutcome)]
    refused = [r for r in results if isinstance(r, DomainError)]
    assert [(d.status, d.amount.amount) for d in done] == [("succeeded", 2895)]
    assert len(refused) == 3 and all(r.field == "amount" for r in refused)
    db.commit()
    assert [r.amount for r in db.exec(select(Refund).where(Refund.order_id == order.id)).all()] == [2895]
    stripe_side = get_object(localstripe_url, "/v1/refunds", payment_intent=order.paid_intent_id)["data"]
    assert [r["amount"] for r in stripe_side] == [2895]
