"""The fake Printful for fulfilment tests, and the app's settings pointed at it (restored after)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tenacity.wait import wait_fixed

from store.config import get_settings
from tests.fakes.printful import FakePrintful, run_fake_printful

TOKEN = "test-token"
SECRET = "pf-webhook-secret"


@pytest.fixture
def printful(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakePrintful]:
    """STORE_FULFILMENT=printful against a fake Printful in this process; quick backoff between retries."""
    import store.fulfilment.providers.printful as printful_module

    with run_fake_printful(token=TOKEN) as fake:
        monkeypatch.setenv("STORE_FULFILMENT", "printful")
        monkeypatch.setenv("STORE_PRINTFUL_TOKEN", TOKEN)
        monkeypatch.setenv("STORE_PRINTFUL_API_BASE", fake.base_url)
        monkeypatch.setenv("STORE_PRINTFUL_WEBHOOK_SECRET", SECRET)
        monkeypatch.setattr(printful_module, "_backoff", wait_fixed(0.01))
        get_settings.cache_clear()
        try:
            yield fake
        finally:
            monkeypatch.undo()
            get_settings.cache_clear()
