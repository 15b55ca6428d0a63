"""Issue 15.3: card attempts on /checkout/card/setup|pay are throttled per network address and per
order; a decline counts double; the limits are shared through Redis when it is set; past the limit
the answer is 429 with when to try again, and Stripe is not asked (PaymentIntents counted in
localstripe).

The limits (store/throttle.py): 20 per order and 50 per network address in any hour, where each
set-up and each payment request counts 1 and a decline 1 more.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from store.order.models import Order
from tests.catalog.test_cache import redis_url  # noqa: F401  (a private redis-server for the test)
from tests.conftest import soup
from tests.factories import add, checkout, make_product, pay_form, sku_of
from tests.fakes.localstripe import (
    CARD_3DS,
    CARD_DECLINED,
    CARD_SUCCEEDS,
    authenticate_3ds,
    list_payment_intents,
    make_payment_method,
)

PER_ORDER = 20
PER_ADDRESS = 50
JSON = {"Accept": "application/json"}


@pytest.fixture
def sku(db) -> str:  # type: ignore[no-untyped-def]
    return sku_of(db, make_product(db, price="25.00"))


def shopper(app: Any, sku: str, ip: str = "203.0.113.7") -> tuple[TestClient, dict[str, str]]:
    """A shopper at network address `ip` with a pending order; the payment form's fields."""
    client = TestClient(app, raise_server_exceptions=False, client=(ip, 50000))
    add(client, sku, 1)
    assert checkout(client).status_code == 303
    return client, pay_form(client)


def setup(client: Any, form: dict[str, str], headers: dict[str, str] | None = None) -> Any:
    return client.post(
        "/checkout/card/setup", data=form, headers={"X-CSRF-Token": form["csrf_token"], **(headers or JSON)}
    )


def pay(client: Any, form: dict[str, str], **extra: str) -> Any:
    return client.post(
        "/checkout/card/pay", data={**form, **extra}, headers={"X-CSRF-Token": form["csrf_token"], **JSON}
    )


def try_card(client: Any, form: dict[str, str], stripe_url: str, card: str) -> Any:
    """What card-payment.js does for one card: set up, then pay with the pm_…"""
    assert setup(client, form).status_code == 200
    return pay(client, form, payment_method=make_payment_method(stripe_url, card))


def assert_throttled(r: Any) -> int:
    assert r.status_code == 429, r.text
    retry_after = int(r.headers["Retry-After"])
    assert 3500 <= retry_after <= 3600  # the oldest attempt leaves the hour's window
    assert r.json() == {
        "message": "Too many card attempts. Please try again in 60 minutes.",
        "retry_after": retry_after,
    }
    return retry_after


def test_the_attempt_past_the_order_limit_is_429_and_stripe_is_not_asked(stripe_env, app, sku) -> None:  # type: ignore[no-untyped-def]
    client, form = shopper(app, sku)
    # a 3-D Secure payment under way (2 counted), then 18 more card set-ups: 20 in all
    started = try_card(client, form, stripe_env, CARD_3DS).json()
    assert started["status"] == "requires_action"
    for _ in range(PER_ORDER - 2):
        assert setup(client, form).status_code == 200
    # the 21st: refused, and so is a payment with a new card, before Stripe hears of it
    assert_throttled(setup(client, form))
    pm = make_payment_method(stripe_env, CARD_SUCCEEDS)
    assert_throttled(pay(client, form, payment_method=pm))
    assert len(list_payment_intents(stripe_env)) == 1
    # finishing the 3-D Secure already under way is never cut off
    authenticate_3ds(stripe_env, started["payment_intent"], success=True)
    done = pay(client, form, payment_intent=started["payment_intent"])
    assert (done.status_code, done.json()["status"]) == (200, "succeeded")


def test_a_real_shopper_with_a_few_declines_is_never_throttled(stripe_env, app, sku) -> None:  # type: ignore[no-untyped-def]
    client, form = shopper(app, sku)
    for _ in range(6):
        assert try_card(client, form, stripe_env, CARD_DECLINED).json()["status"] == "failed"
    assert try_card(client, form, stripe_env, CARD_SUCCEEDS).json()["status"] == "succeeded"


@pytest.mark.parametrize(("card", "status", "room"), [(CARD_DECLINED, "failed", 5), (CARD_3DS, "requires_action", 10)])
def test_declines_count_double(stripe_env, app, sku, card, status, room) -> None:  # type: ignore[no-untyped-def]
    # five payments: declined, each counts 3 (set-up, payment, decline); else 2
    client, form = shopper(app, sku)
    for _ in range(5):
        assert try_card(client, form, stripe_env, card).json()["status"] == status
    # what is left of the order's 20
    for _ in range(room):
        assert setup(client, form).status_code == 200
    assert_throttled(setup(client, form))
    assert len(list_payment_intents(stripe_env)) == 5


def test_the_network_address_limit_spans_orders_and_other_addresses_are_unaffected(stripe_env, app, sku) -> None:  # type: ignore[no-untyped-def]
    # two orders from one address use their 20 each; a third order from it has 10 before the 50
    for _ in range(2):
        client, form = shopper(app, sku)
        for _ in range(PER_ORDER):
            assert setup(client, form).status_code == 200
        assert_throttled(setup(client, form))
    third, third_form = shopper(app, sku)
    for _ in range(PER_ADDRESS - 2 * PER_ORDER):
        assert setup(third, third_form).status_code == 200
    assert_throttled(setup(third, third_form))
    assert_throttled(pay(third, third_form, payment_method=make_payment_method(stripe_env, CARD_SUCCEEDS)))
    assert list_payment_intents(stripe_env) == []
    # a shopper elsewhere pays as usual
    other, other_form = shopper(app, sku, ip="198.51.100.20")
    assert try_card(other, other_form, stripe_env, CARD_SUCCEEDS).json()["status"] == "succeeded"


def test_without_json_the_answer_is_a_page_saying_when(stripe_env, app, sku) -> None:  # type: ignore[no-untyped-def]
    client, form = shopper(app, sku)
    for _ in range(PER_ORDER):
        setup(client, form)
    r = setup(client, form, headers={"Accept": "text/html"})
    assert r.status_code == 429
    assert 3500 <= int(r.headers["Retry-After"]) <= 3600
    page = soup(r.text)
    assert page.find("h1").get_text(strip=True) == "Too many attempts"
    assert "Too many card attempts. Please try again in 60 minutes." in page.get_text()


def test_each_throttled_attempt_is_logged_with_structure_and_no_card_data(stripe_env, app, sku, db, caplog) -> None:  # type: ignore[no-untyped-def]
    client, form = shopper(app, sku)
    for _ in range(PER_ORDER):
        setup(client, form)
    pm = make_payment_method(stripe_env, CARD_SUCCEEDS)
    with caplog.at_level(logging.INFO, logger="store.throttle"):
        setup(client, form)
        pay(client, form, payment_method=pm)
    db.rollback()
    number = db.exec(select(Order.number)).one()
    records = [r for r in caplog.records if r.name == "store.throttle"]
    assert [(r.getMessage(), r.ip, r.order, r.kind, r.count, r.limit) for r in records] == [  # type: ignore[attr-defined]
        ("card attempt throttled", "203.0.113.7", number, "checkout-setup", 20, 20),
        ("card attempt throttled", "203.0.113.7", number, "checkout-pay", 20, 20),
    ]
    for record in records:
        text = repr(record.__dict__)
        assert pm not in text and form["order"] not in text and "4242" not in text


def test_limits_are_shared_through_redis(stripe_env, app, sku, redis_url, monkeypatch) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    import redis

    from store.auth import service as auth
    from store.config import get_settings

    monkeypatch.setenv("STORE_REDIS_URL", redis_url)
    get_settings.cache_clear()
    client, form = shopper(app, sku)
    for _ in range(PER_ORDER):
        assert setup(client, form).status_code == 200
    # another process: its own limiter, the same Redis
    auth._limiter.cache_clear()
    assert_throttled(setup(client, form))
    assert redis.Redis.from_url(redis_url).keys("LIMITS:*card*")
    monkeypatch.delenv("STORE_REDIS_URL")
    get_settings.cache_clear()
    auth._limiter.cache_clear()
    # and this process's own memory never saw them: the count lived in Redis
    assert setup(client, form).status_code == 200
