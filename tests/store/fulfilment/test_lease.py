"""The claim on a row while the provider is asked: a short lease kept alive by a heartbeat.

A slow provider call that outlasts the lease keeps its row (nobody else submits it meanwhile); the
lease is renewed by a conditional UPDATE on our own lease only.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from store.fulfilment import lease as leases
from store.fulfilment.models import Fulfilment, FulfilmentAttempt
from store.fulfilment.submission import submit
from store.fulfilment.tasks import sweep
from store.order.models import Order
from store.timeutil import utcnow
from tests.factories import fulfilment_of, make_paid_order
from tests.fakes.fixtures import app_settings
from tests.fakes.printful import FakePrintful


@pytest.fixture
def short_lease(printful: FakePrintful) -> Iterator[float]:
    """A 2 s lease (renewed every ~0.7 s) against the fake Printful."""
    with app_settings(STORE_FULFILMENT_LEASE_SECONDS="2"):
        yield 2.0


def _waitingfulfilment_of(db: Session, printful: FakePrintful) -> tuple[Order, Fulfilment]:
    """A paid order whose first submission found Printful down: pending, due again now."""
    printful.fail_next("GET /orders/@{external_id}", 4, status=503)
    order = make_paid_order(db)
    row = fulfilment_of(db, order)
    assert row.status == "pending"
    row.next_attempt_at = utcnow() - timedelta(seconds=1)
    db.add(row)
    db.commit()
    return order, row


def test_a_slow_provider_call_longer_than_the_lease_is_not_taken_over(
    db: Session, printful: FakePrintful, short_lease: float
) -> None:
    # given: Printful will take three leases' time (6 s) to answer the order's POST
    order, row = _waitingfulfilment_of(db, printful)
    assert row.id is not None
    printful.delay_next("POST /orders", 3 * short_lease)

    # when: one worker submits it, and meanwhile a second worker keeps trying to take it over
    first: list[str] = []
    worker = threading.Thread(target=lambda: first.append(submit(row.id)))  # type: ignore[arg-type]
    worker.start()
    second: list[str] = []
    while fulfilment_of(db, order).status != "submitting" and worker.is_alive():
        time.sleep(0.05)
    db.rollback()
    while worker.is_alive():
        second.append(submit(row.id))  # type: ignore[arg-type]
        sweep()
        time.sleep(0.2)
    worker.join(30)

    # then: the second worker never got it, and Printful was asked once: one order
    assert first == ["submitted"]
    assert len(second) >= 3 * short_lease / 0.4  # it really tried, all the while
    assert set(second) == {"not-claimed"}
    assert printful.count("POST /orders") == 1
    assert list(printful.orders) == [order.number]
    db.rollback()
    submits = db.exec(
        select(FulfilmentAttempt.outcome).where(
            FulfilmentAttempt.fulfilment_id == row.id, FulfilmentAttempt.action == "submit"
        )
    ).all()
    assert submits == ["temporary_error", "ok"]
    assert (fulfilment_of(db, order).status, fulfilment_of(db, order).lease_until) == ("submitted", None)


def test_renewing_takes_only_our_own_lease(db: Session, printful: FakePrintful, short_lease: float) -> None:
    _, row = _waitingfulfilment_of(db, printful)
    assert row.id is not None
    lease = leases.claim(db, fulfilment_id=row.id)
    db.commit()
    assert lease is not None

    renewed = leases.renew(row.id, lease)
    assert renewed is not None and renewed > lease
    assert leases.renew(row.id, lease) is None  # the old lease is no longer ours
    db.rollback()
    assert leases.claim(db, fulfilment_id=row.id) is None  # held: nobody else may take it
    db.rollback()
    # once it runs out unrenewed, another worker may take it
    assert leases.claim(db, fulfilment_id=row.id, now=renewed + timedelta(seconds=1)) is not None
    db.commit()
    assert leases.renew(row.id, renewed) is None
