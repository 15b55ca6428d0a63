"""The fixtures for fake outside servers, in one place (registered by tests/conftest.py's pytest_plugins).

| fixture | gives | the app's settings |
|---|---|---|
| `localstripe_url` | a localstripe process for the test module: its base URL | untouched |
| `stripe_env` | that localstripe, emptied, for one test: its base URL | `STORE_STRIPE_*` point at it |
| `stripe_settings` | a `Settings` pointed at that localstripe (for calling store.payment directly) | untouched |
| `printful_server` | the fake Printful in this process (`FakePrintful`) | untouched |
| `printful` | the same, for one test | `STORE_FULFILMENT=printful`, `STORE_PRINTFUL_*` point at it |
| `printful_process` | the fake Printful as its own process (`FakePrintfulRemote`), for worker processes | as `printful` |
| `smtp_sink` | an SMTP server that keeps what it receives (`SmtpSink`) | `STORE_SMTP_URL` points at it |

The app fixture (tests/conftest.py) is built after `stripe_env` when a test uses both, so its CSP names
this localstripe's Stripe.js. A module whose every test needs the app on localstripe says
`pytestmark = pytest.mark.usefixtures("stripe_env")`.
The servers themselves live beside this file: localstripe.py, printful.py, smtp.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from tenacity.wait import wait_fixed

from store.config import Settings, get_settings
from tests.fakes.localstripe import TEST_PUBLISHABLE_KEY, TEST_SECRET_KEY, flush, running_localstripe
from tests.fakes.printful import FakePrintful, FakePrintfulRemote, run_fake_printful, spawn_fake_printful
from tests.fakes.smtp import SmtpSink, run_smtp_sink

STRIPE_WEBHOOK_SECRET = "whsec_storefront_tests"
PRINTFUL_TOKEN = "test-token"
PRINTFUL_WEBHOOK_SECRET = "pf-webhook-secret"


@contextmanager
def app_settings(**env: str) -> Iterator[None]:
    """Set STORE_* variables for the length of the block; every get_settings() in the app sees them."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        get_settings.cache_clear()
        try:
            yield
        finally:
            get_settings.cache_clear()
    get_settings.cache_clear()  # again, now that the variables are back as they were


# --- localstripe ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def localstripe_url() -> Iterator[str]:
    with running_localstripe() as base_url:
        yield base_url


@pytest.fixture
def stripe_env(localstripe_url: str) -> Iterator[str]:
    """The app talks to this module's localstripe, emptied first, for the length of one test."""
    flush(localstripe_url)
    with app_settings(
        STORE_STRIPE_SECRET_KEY=TEST_SECRET_KEY,
        STORE_STRIPE_PUBLISHABLE_KEY=TEST_PUBLISHABLE_KEY,
        STORE_STRIPE_API_BASE=localstripe_url,
        STORE_STRIPE_JS_URL=f"{localstripe_url}/js.stripe.com/v3/",
    ):
        yield localstripe_url


@pytest.fixture
def stripe_settings(localstripe_url: str) -> Settings:
    """Settings for store.payment's functions (settings=…), pointed at this module's localstripe."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        env="test",
        stripe_secret_key=TEST_SECRET_KEY,
        stripe_publishable_key=TEST_PUBLISHABLE_KEY,
        stripe_webhook_secret=STRIPE_WEBHOOK_SECRET,
        stripe_api_base=localstripe_url,
        stripe_js_url=f"{localstripe_url}/js.stripe.com/v3/",
    )


# --- Printful -------------------------------------------------------------------------------------


def _printful_env(base_url: str) -> dict[str, str]:
    return {
        "STORE_FULFILMENT": "printful",
        "STORE_PRINTFUL_TOKEN": PRINTFUL_TOKEN,
        "STORE_PRINTFUL_API_BASE": base_url,
        "STORE_PRINTFUL_WEBHOOK_SECRET": PRINTFUL_WEBHOOK_SECRET,
    }


@pytest.fixture
def printful_server() -> Iterator[FakePrintful]:
    with run_fake_printful(token=PRINTFUL_TOKEN) as server:
        yield server


@pytest.fixture
def printful(printful_server: FakePrintful, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakePrintful]:
    """STORE_FULFILMENT=printful against the fake in this process; quick backoff between retries."""
    import store.fulfilment.providers.printful as printful_module

    monkeypatch.setattr(printful_module, "_backoff", wait_fixed(0.01))
    with app_settings(**_printful_env(printful_server.base_url)):
        yield printful_server


@pytest.fixture
def printful_process() -> Iterator[FakePrintfulRemote]:
    """The fake as a process of its own, so real worker processes can reach it; the app points at it."""
    with spawn_fake_printful(token=PRINTFUL_TOKEN) as remote, app_settings(**_printful_env(remote.base_url)):
        yield remote


# --- SMTP -----------------------------------------------------------------------------------------


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """Mail goes out by SMTP (STORE_SMTP_URL) to a local sink instead of var/outbox/."""
    with run_smtp_sink() as sink, app_settings(STORE_SMTP_URL=sink.url):
        yield sink
