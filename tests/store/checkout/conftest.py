"""A real localstripe for the checkout's payment tests, and the app's settings pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from store.config import get_settings
from tests.fakes.localstripe import TEST_PUBLISHABLE_KEY, TEST_SECRET_KEY, flush, running_localstripe


@pytest.fixture(scope="module")
def localstripe_url() -> Iterator[str]:
    with running_localstripe() as base_url:
        yield base_url


@pytest.fixture
def stripe_env(localstripe_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Every get_settings() in the app (payment gateway, CSP, templates) sees this localstripe."""
    flush(localstripe_url)
    monkeypatch.setenv("STORE_STRIPE_SECRET_KEY", TEST_SECRET_KEY)
    monkeypatch.setenv("STORE_STRIPE_PUBLISHABLE_KEY", TEST_PUBLISHABLE_KEY)
    monkeypatch.setenv("STORE_STRIPE_API_BASE", localstripe_url)
    monkeypatch.setenv("STORE_STRIPE_JS_URL", f"{localstripe_url}/js.stripe.com/v3/")
    get_settings.cache_clear()
    yield localstripe_url
    get_settings.cache_clear()


@pytest.fixture
def shop(stripe_env: str, client):  # type: ignore[no-untyped-def]
    """A test client for an app built after the settings point at localstripe."""
    return client
