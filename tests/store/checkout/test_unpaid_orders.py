"""Issue 15.2: abandoned unpaid orders are cancelled after STORE_UNPAID_ORDER_MINUTES and give their
discount use back; Stripe is asked first, so an order whose payment went through is paid, never
cancelled; a shopper paying at that very moment wins or loses cleanly.

Shoppers act through HTTP; the job runs as the worker runs it (the huey task) or as
`storefront reconcile` does.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from store.cart.models import Cart, CartLine
from store.checkout.models import Discount, DiscountUse
from store.order.models import Order, OrderEvent, Payment
from store.timeutil import utcnow
from tests.conftest import soup
from tests.factories import add, apply_discount, checkout, make_product, pay_form, sku_of
from tests.fakes.localstripe import (
    CARD_3DS,
    CARD_SUCCEEDS,
    authenticate_3ds,
    get_object,
    list_payment_intents,
    make_payment_method,
)

PAID = {"paid", "submitted"}
CANCELLED_MESSAGE = "This order was cancelled. Please start again from your cart."


@pytest.fixture
def shop(stripe_env: str, client):  # type: ignore[no-untyped-def]
    return client


@pytest.fixture
def placed(shop, db) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """A shopper's pending order for 2 × £25.00 with a single-use 10 % code: £45.00 + £3.99."""
    db.add(Discount(code="ONCE10", percent_off=10, usage_limit=1))
    db.commit()
    add(shop, sku_of(db, make_product(db, price="25.00")), 2)
    assert apply_discount(shop, "ONCE10").status_code == 303
    assert checkout(shop).status_code == 303
    return pay_form(shop)


def post_pay(client: Any, form: dict[str, str], **extra: str) -> Any:
    return client.post(
        "/checkout/card/pay",
        data={**form, **extra},
        headers={"X-CSRF-Token": form["csrf_token"], "Accept": "application/json"},
    )


def age(db: Any, minutes: int) -> None:
    """Every order and payment attempt last changed `minutes` ago."""
    then = utcnow() - timedelta(minutes=minutes)
    db.execute(update(Order).values(updated_at=then, created_at=then))
    db.execute(update(Payment).values(updated_at=then, created_at=then))
    db.commit()


def the_order(db: Any) -> Order:
    db.rollback()
    [order] = db.exec(select(Order)).all()
    db.rollback()
    return order


def uses(db: Any) -> tuple[int, int]:
    db.rollback()
    found = (db.exec(select(Discount.uses)).one(), len(db.exec(select(DiscountUse)).all()))
    db.rollback()
    return found


def run_job() -> None:
    from store.checkout.tasks import cancel_unpaid_orders

    cancel_unpaid_orders()  # huey is immediate in tests: this runs the periodic task inline


def events(db: Any, order: Order) -> list[tuple[str | None, str, str]]:
    db.rollback()
    rows = db.exec(
        select(OrderEvent).where(OrderEvent.order_id == order.id).order_by(col(OrderEvent.id))
    ).all()
    db.rollback()
    return [(e.to_status, e.actor, e.message) for e in rows]


def test_an_abandoned_order_is_cancelled_its_use_released_and_the_cart_kept(shop, db, stripe_env, placed) -> None:  # type: ignore[no-untyped-def]
    # given the pending order holds the code's only use, and nothing has happened for 121 minutes
    first = the_order(db)
    assert uses(db) == (1, 1)
    age(db, 121)
    # when `storefront reconcile` runs
    from typer.testing import CliRunner

    from store.cli import app

    result = CliRunner().invoke(app, ["reconcile"])
    assert result.exit_code == 0, result.output
    # then it says so, the order is cancelled on its timeline, and the use is free again
    assert f"{first.number} pending_payment -> cancelled (unpaid for 120 minutes)" in result.output.splitlines()
    assert the_order(db).status == "cancelled"
    assert events(db, first)[-1] == (
        "cancelled",
        "unpaid-orders",
        "Not paid within 120 minutes: cancelled, and its discount use released.",
    )
    assert uses(db) == (0, 0)
    # the cart forgets the order and keeps its lines and its code
    db.rollback()
    [cart] = db.exec(select(Cart)).all()
    assert cart.order_id is None and cart.discount_code == "ONCE10"
    assert sum(line.quantity for line in db.exec(select(CartLine)).all()) == 2
    db.rollback()
    page = soup(shop.get("/cart").text)
    assert page.select_one("#f-discount_code-error") is None
    # the old payment page is gone; continuing again makes a new order with the code, and it pays
    assert shop.get("/checkout/pay", follow_redirects=False).headers["location"] == "/checkout"
    assert post_pay(shop, placed, payment_method=make_payment_method(stripe_env, CARD_SUCCEEDS)).json() == {
        "message": CANCELLED_MESSAGE
    }
    assert checkout(shop).status_code == 303
    form = pay_form(shop)
    assert form["amount"] == "4899"
    answer = post_pay(shop, form, payment_method=make_payment_method(stripe_env, CARD_SUCCEEDS))
    assert answer.json()["status"] == "succeeded"
    db.rollback()
    statuses = sorted(o.status for o in db.exec(select(Order)).all())
    assert statuses[0] == "cancelled" and statuses[1] in PAID
    assert uses(db) == (1, 1)
    assert [i["amount"] for i in list_payment_intents(stripe_env)] == [4899]


def test_an_order_younger_than_the_cut_off_is_left_alone(shop, db, placed) -> None:  # type: ignore[no-untyped-def]
    age(db, 119)
    run_job()
    assert the_order(db).status == "pending_payment"
    assert uses(db) == (1, 1)


def test_a_recent_payment_attempt_keeps_an_old_order(shop, db, stripe_env, placed) -> None:  # type: ignore[no-untyped-def]
    # given an order placed long ago, whose shopper is in 3-D Secure right now
    age(db, 300)
    body = post_pay(shop, placed, payment_method=make_payment_method(stripe_env, CARD_3DS)).json()
    assert body["status"] == "requires_action"
    # when the job runs, then it leaves the order (and the intent) alone
    run_job()
    assert the_order(db).status == "pending_payment"
    assert get_object(stripe_env, f"/v1/payment_intents/{body['payment_intent']}")["status"] == "requires_action"
    # and the shopper finishes paying
    authenticate_3ds(stripe_env, body["payment_intent"], success=True)
    assert post_pay(shop, placed, payment_intent=body["payment_intent"]).json()["status"] == "succeeded"
    assert the_order(db).status in PAID


def test_stripe_says_succeeded_so_the_order_is_paid_not_cancelled(shop, db, stripe_env, placed) -> None:  # type: ignore[no-untyped-def]
    # given a 3-D Secure payment the bank approved, but the page never came back and the webhook was lost
    body = post_pay(shop, placed, payment_method=make_payment_method(stripe_env, CARD_3DS)).json()
    authenticate_3ds(stripe_env, body["payment_intent"], success=True)
    order = the_order(db)
    age(db, 180)
    # when the job runs
    from store.checkout.unpaid import cancel_abandoned

    lines = list(cancel_abandoned())
    # then the order is paid through the one mark-paid path, keeps its discount, and is never cancelled
    assert lines == [f"{order.number} pending_payment -> paid (stripe)"]
    paid = the_order(db)
    assert paid.status in PAID and paid.paid_intent_id == body["payment_intent"]
    assert uses(db) == (1, 1)
    moves = [(to, actor) for to, actor, _message in events(db, order) if to]
    assert ("paid", "unpaid-orders") in moves and "cancelled" not in [to for to, _ in moves]
    assert list(cancel_abandoned()) == []
    # and the shopper's cart is emptied as for any paid order
    assert soup(shop.get("/cart").text).select_one(".empty-cart") is not None


def test_an_abandoned_three_d_secure_is_cancelled_at_stripe_then_the_order(shop, db, stripe_env, placed) -> None:  # type: ignore[no-untyped-def]
    body = post_pay(shop, placed, payment_method=make_payment_method(stripe_env, CARD_3DS)).json()
    assert body["status"] == "requires_action"
    age(db, 180)
    run_job()
    # the intent can no longer take the money, and the order is cancelled
    assert get_object(stripe_env, f"/v1/payment_intents/{body['payment_intent']}")["status"] == "canceled"
    assert the_order(db).status == "cancelled"
    assert uses(db) == (0, 0)
    # the shopper comes back to the old page: completing it is refused, a new card is refused unasked
    late = post_pay(shop, placed, payment_intent=body["payment_intent"])
    assert (late.status_code, late.json()) == (409, {"message": CANCELLED_MESSAGE})
    again = post_pay(shop, placed, payment_method=make_payment_method(stripe_env, CARD_SUCCEEDS))
    assert (again.status_code, again.json()) == (409, {"message": CANCELLED_MESSAGE})
    assert len(list_payment_intents(stripe_env)) == 1


def test_a_processing_intent_keeps_the_order(shop, db, stripe_env, placed, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # given a payment the bank is still processing (cards rarely do; Stripe decides, not us)
    body = post_pay(shop, placed, payment_method=make_payment_method(stripe_env, CARD_3DS)).json()
    age(db, 180)
    from store.checkout import unpaid
    from store.money import Money
    from store.payment import PaymentResult

    asked: list[str] = []

    def processing(intent_id: str, **_: Any) -> PaymentResult:
        asked.append(intent_id)
        return PaymentResult(intent_id, "processing", None, None, Money(4899), "processing")

    monkeypatch.setattr(unpaid, "retrieve_payment", processing)
    run_job()
    assert asked == [body["payment_intent"]]
    assert the_order(db).status == "pending_payment"
    assert uses(db) == (1, 1)


def test_a_shopper_who_starts_paying_after_the_job_looked_wins(shop, db, stripe_env, placed) -> None:  # type: ignore[no-untyped-def]
    from store.checkout import unpaid

    age(db, 180)
    # the job has read the order as abandoned …
    [candidate] = unpaid.candidates()
    # … when the shopper presses Pay
    answer = post_pay(shop, placed, payment_method=make_payment_method(stripe_env, CARD_SUCCEEDS))
    assert answer.json()["status"] == "succeeded"
    # the job's conditional cancel finds the order changed and does nothing
    assert unpaid.settle(candidate) is None
    assert the_order(db).status in PAID
    assert uses(db) == (1, 1)


def test_a_shopper_who_pays_after_the_cancellation_is_refused_before_stripe(shop, db, stripe_env, placed) -> None:  # type: ignore[no-untyped-def]
    from store.checkout import unpaid

    age(db, 180)
    [candidate] = unpaid.candidates()
    assert unpaid.settle(candidate) is not None
    r = post_pay(shop, placed, payment_method=make_payment_method(stripe_env, CARD_SUCCEEDS))
    assert (r.status_code, r.json()) == (409, {"message": CANCELLED_MESSAGE})
    assert list_payment_intents(stripe_env) == []
    assert the_order(db).status == "cancelled"


def test_a_payment_that_succeeds_after_cancellation_is_flagged_for_refund(shop, db, stripe_env, placed) -> None:  # type: ignore[no-untyped-def]
    from tests.fakes.stripe_events import intent_event, post_event

    order = the_order(db)
    age(db, 180)
    run_job()
    # when Stripe reports a payment for it anyway (an attempt whose answer we never heard)
    r = post_event(
        shop,
        intent_event("payment_intent.succeeded", intent_id="pi_late_1", amount=4899, order_number=order.number),
    )
    assert r.status_code == 200
    # then the order stays cancelled and staff see the refund to make on its timeline
    assert the_order(db).status == "cancelled"
    assert events(db, order)[-1] == (
        None,
        "stripe",
        "Payment pi_late_1 of £48.99 succeeded after the order was cancelled. Refund it in Stripe.",
    )
    post_event(
        shop,
        intent_event("payment_intent.succeeded", intent_id="pi_late_1", amount=4899, order_number=order.number),
    )
    assert [m for _t, _a, m in events(db, order)].count(events(db, order)[-1][2]) == 1


def test_staff_cancelling_an_unpaid_order_also_releases_its_use(shop, db, placed, login_as) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import csrf_from

    order = the_order(db)
    login_as("fulfilment")
    page = f"/staff/orders/{order.number}"
    r = shop.post(f"{page}/cancel", data={"csrf_token": csrf_from(shop.get(page).text)}, follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, page)
    assert the_order(db).status == "cancelled"
    assert uses(db) == (0, 0)


@pytest.mark.postgres
@pytest.mark.parametrize("first", ["job", "shopper"])
def test_the_job_and_a_paying_shopper_meet_on_the_order_row(shop, db, engine, placed, first) -> None:  # type: ignore[no-untyped-def]
    """Two real transactions: whichever UPDATE comes first holds the row; the other waits for its
    commit, re-checks its condition on the new row, and loses. Never both."""
    import threading

    from sqlmodel import Session

    from store.checkout import unpaid

    age(db, 180)
    [candidate] = unpaid.candidates()
    order_id = the_order(db).id
    holding, release = threading.Event(), threading.Event()
    outcome: dict[str, bool] = {}

    def job() -> None:
        with Session(engine, expire_on_commit=False) as s:
            outcome["job"] = unpaid._cancel(s, candidate)
            holding.set()
            release.wait(10)
            s.commit()

    def shopper() -> None:
        with Session(engine, expire_on_commit=False) as s:
            outcome["shopper"] = unpaid.claim_for_payment(s, order=s.get(Order, order_id))
            holding.set()
            release.wait(10)
            s.commit()

    runs = {"job": job, "shopper": shopper}
    second = "shopper" if first == "job" else "job"
    t1 = threading.Thread(target=runs[first])
    t1.start()
    assert holding.wait(10)
    holding.clear()
    t2 = threading.Thread(target=runs[second])
    t2.start()
    t2.join(0.5)
    assert t2.is_alive(), "the second UPDATE should wait for the first transaction's row lock"
    release.set()
    t1.join(10)
    t2.join(10)
    assert outcome == {first: True, second: False}
    assert the_order(db).status == ("cancelled" if first == "job" else "pending_payment")
