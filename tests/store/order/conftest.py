"""localstripe for the order tests, and the app's own settings pointed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlmodel import Session

from store.config import get_settings
from store.money import Money
from store.order.models import Order
from store.order.service import new_order_number
from store.payment import pay
from tests.fakes.localstripe import CARD_SUCCEEDS, TEST_SECRET_KEY, make_payment_method, running_localstripe
from tests.store.order.factories import make_paid_order, order_total


@pytest.fixture(scope="module")
def localstripe_url() -> Iterator[str]:
    with running_localstripe() as base_url:
        yield base_url


@pytest.fixture
def stripe_env(localstripe_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The app (get_settings()) talks to this module's localstripe for the length of one test."""
    monkeypatch.setenv("STORE_STRIPE_API_BASE", localstripe_url)
    monkeypatch.setenv("STORE_STRIPE_SECRET_KEY", TEST_SECRET_KEY)
    monkeypatch.setenv("STORE_STRIPE_JS_URL", f"{localstripe_url}/js.stripe.com/v3/")
    get_settings.cache_clear()
    yield localstripe_url
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.fixture
def stripe_paid_order(db: Session, stripe_env: str) -> Callable[..., Order]:
    """An order paid by a real (localstripe) PaymentIntent for exactly its total, so it can be refunded."""

    def make(paid: bool = True, **kwargs: object) -> Order:
        number = new_order_number()
        total = order_total(**{k: v for k, v in kwargs.items() if k in ("lines", "shipping", "discount")})  # type: ignore[arg-type]
        result = pay(
            amount=Money(total),
            payment_method=make_payment_method(stripe_env, CARD_SUCCEEDS),
            idempotency_key=f"test-{number}-pay",
            metadata={"order_number": number},
        )
        assert result.status == "succeeded" and result.intent_id
        return make_paid_order(db, paid=paid, intent_id=result.intent_id, number=number, **kwargs)  # type: ignore[arg-type]

    return make
