"""The card payment endpoints against a real localstripe: one PaymentIntent per attempt, never two
charges for the same payment method, 3-D Secure, declines leaving the order unpaid and the cart intact."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlmodel import select

from store.cart.models import CartLine
from store.checkout.models import PaymentAttempt
from store.order.models import Order, Payment
from tests.factories import add, checkout, make_product, pay_form, sku_of
from tests.fakes.localstripe import (
    CARD_3DS,
    CARD_DECLINED,
    CARD_SUCCEEDS,
    authenticate_3ds,
    list_payment_intents,
    make_payment_method,
)

# Paid, and perhaps already handed to the (manual) fulfilment provider by the inline job queue.
PAID = {"paid", "submitted"}


@pytest.fixture
def shop(stripe_env: str, client):  # type: ignore[no-untyped-def]
    """A test client for an app that talks to this module's localstripe."""
    return client


@pytest.fixture
def placed(shop, db) -> dict[str, str]:  # type: ignore[no-untyped-def]
    add(shop, sku_of(db, make_product(db, price="25.00", colours="Black")), 2)
    assert checkout(shop).status_code == 303
    return pay_form(shop)


def post_pay(client, form: dict[str, str], **extra: str):  # type: ignore[no-untyped-def]
    return client.post(
        "/checkout/card/pay",
        data={**form, **extra},
        headers={"X-CSRF-Token": form["csrf_token"], "Accept": "application/json"},
    )


def the_order(db) -> Order:  # type: ignore[no-untyped-def]
    db.rollback()
    order = db.exec(select(Order)).one()
    db.rollback()
    return order


def cart_quantity(db) -> int:  # type: ignore[no-untyped-def]
    db.rollback()
    total = sum(line.quantity for line in db.exec(select(CartLine)).all())
    db.rollback()
    return total


def test_setup_answers_a_client_secret(shop, placed) -> None:  # type: ignore[no-untyped-def]
    r = shop.post("/checkout/card/setup", data=placed, headers={"X-CSRF-Token": placed["csrf_token"]})
    assert r.status_code == 200
    assert r.json()["client_secret"].startswith("seti_")


def test_good_card_pays_once_and_empties_the_cart(shop, db, stripe_env, placed) -> None:  # type: ignore[no-untyped-def]
    pm = make_payment_method(stripe_env, CARD_SUCCEEDS)
    r = post_pay(shop, placed, payment_method=pm)
    order = the_order(db)
    assert r.status_code == 200
    assert r.json() == {"status": "succeeded", "redirect": f"/checkout/complete/{order.token}"}
    assert order.paid_at is not None and order.status in PAID
    assert order.total == 5399
    [intent] = list_payment_intents(stripe_env)
    assert (intent["amount"], intent["status"], intent["metadata"]) == (
        5399,
        "succeeded",
        {"order_number": order.number},
    )
    db.rollback()
    [payment] = db.exec(select(Payment)).all()
    assert (payment.idempotency_key, payment.intent_id, payment.status) == (
        f"order-{order.number}-pay-1",
        intent["id"],
        "succeeded",
    )
    assert cart_quantity(db) == 0
    assert shop.get("/cart").text.count('class="empty-cart"') == 1
    # the confirmation page
    from tests.conftest import soup

    page = soup(shop.get(r.json()["redirect"]).text)
    assert page.find("h1").get_text() == f"Thank you for your order {order.number}"
    assert page.select_one(".cart-count").get_text() == "0"


def test_same_payment_method_twice_is_one_charge(shop, db, stripe_env, placed) -> None:  # type: ignore[no-untyped-def]
    pm = make_payment_method(stripe_env, CARD_SUCCEEDS)
    first = post_pay(shop, placed, payment_method=pm)
    second = post_pay(shop, placed, payment_method=pm)
    assert first.json()["status"] == second.json()["status"] == "succeeded"
    assert len(list_payment_intents(stripe_env)) == 1
    db.rollback()
    assert len(db.exec(select(Payment)).all()) == 1


def test_concurrent_double_submit_with_the_same_pm_is_one_charge(shop, db, stripe_env, placed, app) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    pm = make_payment_method(stripe_env, CARD_SUCCEEDS)
    clients = [TestClient(app, raise_server_exceptions=False, cookies=dict(shop.cookies)) for _ in range(2)]
    barrier = threading.Barrier(2)
    answers: list[Any] = [None, None]

    def go(i: int) -> None:
        barrier.wait()
        answers[i] = post_pay(clients[i], placed, payment_method=pm)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert [a.status_code for a in answers].count(200) >= 1
    assert len(list_payment_intents(stripe_env)) == 1
    assert the_order(db).status in PAID
    db.rollback()
    assert len(db.exec(select(PaymentAttempt)).all()) == 1


def test_decline_leaves_order_unpaid_and_cart_intact_then_another_card_pays(
    shop, db, stripe_env, placed
) -> None:  # type: ignore[no-untyped-def]
    r = post_pay(shop, placed, payment_method=make_payment_method(stripe_env, CARD_DECLINED))
    assert r.status_code == 200
    assert r.json() == {
        "status": "failed",
        "message": "Your card was declined. Please try another card or contact your bank.",
    }
    assert the_order(db).status == "pending_payment"
    assert cart_quantity(db) == 2
    # attempt 2 with a good card
    r2 = post_pay(shop, placed, payment_method=make_payment_method(stripe_env, CARD_SUCCEEDS))
    assert r2.json()["status"] == "succeeded"
    order = the_order(db)
    assert order.status in PAID
    db.rollback()
    keys = sorted(p.idempotency_key for p in db.exec(select(Payment)).all())
    assert keys == [f"order-{order.number}-pay-1", f"order-{order.number}-pay-2"]
    assert [i["status"] for i in list_payment_intents(stripe_env)].count("succeeded") == 1


def test_three_d_secure_then_the_intent_is_checked(shop, db, stripe_env, placed) -> None:  # type: ignore[no-untyped-def]
    r = post_pay(shop, placed, payment_method=make_payment_method(stripe_env, CARD_3DS))
    body = r.json()
    assert body["status"] == "requires_action"
    assert body["client_secret"].startswith(body["payment_intent"])
    assert the_order(db).status == "pending_payment"
    authenticate_3ds(stripe_env, body["payment_intent"], success=True)
    done = post_pay(shop, placed, payment_intent=body["payment_intent"])
    assert done.json()["status"] == "succeeded"
    assert the_order(db).status in PAID


def test_failed_three_d_secure_leaves_the_order_unpaid(shop, db, stripe_env, placed) -> None:  # type: ignore[no-untyped-def]
    body = post_pay(shop, placed, payment_method=make_payment_method(stripe_env, CARD_3DS)).json()
    authenticate_3ds(stripe_env, body["payment_intent"], success=False)
    done = post_pay(shop, placed, payment_intent=body["payment_intent"])
    assert done.json() == {
        "status": "failed",
        "message": "Your bank could not confirm the payment. Please try again or use another card.",
    }
    assert the_order(db).status == "pending_payment"
    assert cart_quantity(db) == 2


def test_an_intent_of_another_order_is_refused(shop, db, stripe_env, placed) -> None:  # type: ignore[no-untyped-def]
    from store.money import Money
    from store.payment import pay

    stranger = pay(
        amount=Money(5399),
        payment_method=make_payment_method(stripe_env, CARD_SUCCEEDS),
        idempotency_key="someone-else-1",
        metadata={"order_number": "RRM-OTHER"},
    )
    r = post_pay(shop, placed, payment_intent=str(stranger.intent_id))
    assert r.status_code == 400
    assert the_order(db).status == "pending_payment"


def test_a_changed_amount_is_refused_before_stripe(shop, db, stripe_env, placed) -> None:  # type: ignore[no-untyped-def]
    r = post_pay(
        shop, {**placed, "amount": "100"}, payment_method=make_payment_method(stripe_env, CARD_SUCCEEDS)
    )
    assert r.status_code == 409
    assert list_payment_intents(stripe_env) == []


def test_pay_without_csrf_is_403_and_charges_nothing(shop, db, stripe_env, placed) -> None:  # type: ignore[no-untyped-def]
    pm = make_payment_method(stripe_env, CARD_SUCCEEDS)
    form = {k: v for k, v in placed.items() if k != "csrf_token"}
    r = shop.post("/checkout/card/pay", data={**form, "payment_method": pm})
    assert r.status_code == 403
    assert list_payment_intents(stripe_env) == []
    assert the_order(db).status == "pending_payment"


def test_a_made_up_payment_method_is_bad_input_not_a_server_error(shop, db, stripe_env, placed) -> None:  # type: ignore[no-untyped-def]
    # when: the page sends a pm_… Stripe has never heard of (issue 15 item 9)
    r = post_pay(shop, placed, payment_method="pm_madeUpByACardTester")

    # then: 422 with a message card-payment.js shows; nothing charged, the order still payable
    assert r.status_code == 422
    assert r.json() == {
        "message": "Your card details didn't come through. Please enter your card again.",
    }
    assert list_payment_intents(stripe_env) == []
    assert the_order(db).status == "pending_payment"
    db.rollback()
    [payment] = db.exec(select(Payment)).all()
    assert payment.status == "failed"
    # and: a real card straight after pays (the refused attempt is not left "in flight")
    good = post_pay(shop, placed, payment_method=make_payment_method(stripe_env, CARD_SUCCEEDS))
    assert good.status_code == 200
    assert good.json()["status"] == "succeeded"
    assert the_order(db).status in PAID
