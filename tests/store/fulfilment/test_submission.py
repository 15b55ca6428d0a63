"""Exactly-once submission of paid orders to the (fake) Printful HTTP API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from store.fulfilment import lease as leases
from store.fulfilment import service
from store.fulfilment.models import Fulfilment, FulfilmentAttempt
from store.fulfilment.submission import submit
from store.fulfilment.tasks import sweep
from store.mail.models import OutboundEmail
from store.order.models import Order
from store.timeutil import utcnow
from tests.factories import fulfilment_of, make_paid_order
from tests.fakes.printful import FakePrintful


def _order(db: Session, order: Order) -> Order:
    db.rollback()
    db.expire_all()
    return db.exec(select(Order).where(Order.id == order.id)).one()


def _make_due(db: Session, row: Fulfilment) -> None:
    row.next_attempt_at = utcnow() - timedelta(seconds=1)
    db.add(row)
    db.commit()


def test_a_paid_order_creates_exactly_one_provider_order(db: Session, printful: FakePrintful) -> None:
    # given / when: an order is paid (the submit job runs after commit)
    order = make_paid_order(db)

    # then: exactly one Printful order, under our order number, and the order is submitted
    assert list(printful.orders) == [order.number]
    assert printful.count("POST /orders") == 1
    provider_order = printful.orders[order.number]
    assert provider_order["status"] == "pending"
    assert provider_order["items"][0]["external_variant_id"] == "TS-RED-M"
    assert provider_order["items"][0]["retail_price"] == "25.00"
    row = fulfilment_of(db, order)
    assert (row.status, row.provider_order_id, row.attempts) == ("submitted", str(provider_order["id"]), 1)
    assert _order(db, order).status == "submitted"
    # and submitting again (a duplicate job, the sweep) changes nothing
    assert submit(row.id) == "not-claimed"  # type: ignore[arg-type]
    assert sweep() == 0
    assert printful.count("POST /orders") == 1


def test_three_500s_in_a_row_still_end_with_one_order(db: Session, printful: FakePrintful) -> None:
    printful.fail_next("GET /orders/@{external_id}", 3, status=500)

    order = make_paid_order(db)

    assert len(printful.orders) == 1
    assert printful.count("POST /orders") == 1
    assert printful.count("GET /orders/@{external_id}") == 4  # three 500s, then 404 before the POST
    assert fulfilment_of(db, order).status == "submitted"
    assert _order(db, order).status == "submitted"


def test_post_failing_three_times_with_500_still_ends_with_one_order(
    db: Session, printful: FakePrintful
) -> None:
    printful.fail_next("POST /orders", 3, status=500)

    order = make_paid_order(db)

    assert len(printful.orders) == 1
    assert printful.count("POST /orders") == 4
    assert fulfilment_of(db, order).status == "submitted"


def test_429_with_retry_after_still_ends_with_one_order(db: Session, printful: FakePrintful) -> None:
    printful.rate_limit_next("POST /orders", 1, retry_after=1)

    order = make_paid_order(db)

    assert len(printful.orders) == 1
    assert printful.count("POST /orders") == 2
    assert fulfilment_of(db, order).status == "submitted"


@pytest.mark.parametrize("mode", ["close", "500"])
def test_accepted_but_answer_lost_ends_with_one_order(db: Session, printful: FakePrintful, mode: str) -> None:
    # given: Printful creates the order but the answer never reaches us
    printful.drop_response_next("POST /orders", mode=mode)  # type: ignore[arg-type]

    order = make_paid_order(db)

    # then: the retry asks first, finds the order, and never POSTs again
    assert len(printful.orders) == 1
    assert printful.count("POST /orders") == 1
    row = fulfilment_of(db, order)
    assert (row.status, row.provider_order_id) == ("submitted", str(printful.orders[order.number]["id"]))


def test_provider_down_backs_off_then_sweep_submits_once(db: Session, printful: FakePrintful) -> None:
    # given: every call in the first job fails (4 tries of the find-first GET)
    printful.fail_next("GET /orders/@{external_id}", 4, status=503)
    order = make_paid_order(db)
    row = fulfilment_of(db, order)
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.next_attempt_at is not None
    delay = service.aware(row.next_attempt_at) - utcnow()
    assert timedelta(seconds=50) < delay <= timedelta(seconds=60)
    assert printful.orders == {}
    assert _order(db, order).status == "paid"

    # when: the backoff is over and the sweep runs
    _make_due(db, row)
    assert sweep() == 1

    # then: one order, two attempts on record
    assert len(printful.orders) == 1
    row = fulfilment_of(db, order)
    assert (row.status, row.attempts) == ("submitted", 2)
    outcomes = db.exec(select(FulfilmentAttempt.outcome).order_by(FulfilmentAttempt.id)).all()
    assert outcomes == ["temporary_error", "ok"]


def test_retries_stop_after_the_limit_hold_the_order_and_tell_the_shopper(
    db: Session, printful: FakePrintful
) -> None:
    printful.fail_next("GET /orders/@{external_id}", 4 * service.MAX_SUBMIT_ATTEMPTS, status=500)
    order = make_paid_order(db)
    for _ in range(service.MAX_SUBMIT_ATTEMPTS - 1):
        _make_due(db, fulfilment_of(db, order))
        assert sweep() == 1

    row = fulfilment_of(db, order)
    assert (row.status, row.attempts) == ("failed", service.MAX_SUBMIT_ATTEMPTS)
    assert row.reason.startswith("The printer could not be reached after 5 attempts")
    assert _order(db, order).status == "on_hold"
    assert printful.orders == {}
    emails = db.exec(
        select(OutboundEmail).where(OutboundEmail.key == f"fulfilment-delay-{order.number}")
    ).all()
    assert len(emails) == 1
    assert emails[0].to == "shopper@example.org"
    assert "delaying" in emails[0].text
    assert sweep() == 0  # failed rows wait for staff


def test_a_refusal_goes_to_the_exception_desk_with_the_reason(db: Session, printful: FakePrintful) -> None:
    printful.reject_next("POST /orders", "Recipient: zip is invalid")

    order = make_paid_order(db)

    row = fulfilment_of(db, order)
    assert (row.status, row.reason) == ("failed", "The printer refused the order: Recipient: zip is invalid")
    assert _order(db, order).status == "on_hold"
    assert printful.orders == {}


def test_a_row_claimed_by_a_worker_that_died_is_taken_again_after_its_lease(
    db: Session, printful: FakePrintful
) -> None:
    # given: a worker claimed the row (lease) and died before calling Printful
    printful.fail_next("GET /orders/@{external_id}", 4, status=500)
    order = make_paid_order(db)
    row = fulfilment_of(db, order)
    row.status, row.lease_until, row.next_attempt_at = "submitting", utcnow() + timedelta(minutes=5), None
    db.add(row)
    db.commit()

    # then: nobody else may take it while the lease runs
    assert submit(row.id) == "not-claimed"  # type: ignore[arg-type]
    assert sweep() == 0

    # when: the lease has run out
    row.lease_until = utcnow() - timedelta(seconds=1)
    db.add(row)
    db.commit()
    assert sweep() == 1

    # then: exactly one order
    assert len(printful.orders) == 1
    assert fulfilment_of(db, order).status == "submitted"


def test_claim_is_exclusive(db: Session, printful: FakePrintful) -> None:
    printful.fail_next("GET /orders/@{external_id}", 4, status=500)
    order = make_paid_order(db)
    row = fulfilment_of(db, order)
    _make_due(db, row)

    first = leases.claim(db, fulfilment_id=row.id)  # type: ignore[arg-type]
    db.commit()
    second = leases.claim(db, fulfilment_id=row.id)  # type: ignore[arg-type]
    db.commit()

    assert first is not None
    assert second is None


def test_manual_fulfilment_puts_the_order_on_staff_list_and_keeps_it_paid(db: Session) -> None:
    order = make_paid_order(db)

    row = fulfilment_of(db, order)
    assert (row.provider, row.status, row.provider_order_id) == ("manual", "submitted", None)
    assert _order(db, order).status == "paid"  # "submitted" means accepted by a print provider


def test_a_cancelled_order_is_never_submitted(db: Session, printful: FakePrintful) -> None:
    printful.fail_next("GET /orders/@{external_id}", 4, status=500)
    order = make_paid_order(db)
    row = fulfilment_of(db, order)
    fresh = _order(db, order)
    fresh.status = "cancelled"  # arranged directly: what the orders service leaves behind
    db.add(fresh)
    _make_due(db, row)

    sweep()

    assert fulfilment_of(db, order).status == "cancelled"
    assert printful.orders == {}
