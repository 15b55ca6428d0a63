"""A real localstripe process for the payment tests, shared by a module, and Settings pointing at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from store.config import Settings
from tests.fakes.localstripe import TEST_PUBLISHABLE_KEY, TEST_SECRET_KEY, running_localstripe

WEBHOOK_SECRET = "whsec_storefront_tests"


@pytest.fixture(scope="module")
def localstripe_url() -> Iterator[str]:
    with running_localstripe() as base_url:
        yield base_url


@pytest.fixture
def stripe_settings(localstripe_url: str) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        env="test",
        stripe_secret_key=TEST_SECRET_KEY,
        stripe_publishable_key=TEST_PUBLISHABLE_KEY,
        stripe_webhook_secret=WEBHOOK_SECRET,
        stripe_api_base=localstripe_url,
        stripe_js_url=f"{localstripe_url}/js.stripe.com/v3/",
    )
