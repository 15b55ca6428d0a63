"""Point the whole app (get_settings()) at a test localstripe for one test, then put it back."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from store.config import Settings, get_settings
from tests.fakes.localstripe import TEST_PUBLISHABLE_KEY, TEST_SECRET_KEY


@contextmanager
def app_uses_localstripe(base_url: str) -> Iterator[Settings]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STORE_STRIPE_API_BASE", base_url)
        patch.setenv("STORE_STRIPE_JS_URL", f"{base_url}/js.stripe.com/v3/")
        patch.setenv("STORE_STRIPE_SECRET_KEY", TEST_SECRET_KEY)
        patch.setenv("STORE_STRIPE_PUBLISHABLE_KEY", TEST_PUBLISHABLE_KEY)
        get_settings.cache_clear()
        try:
            yield get_settings()
        finally:
            get_settings.cache_clear()
    get_settings.cache_clear()
