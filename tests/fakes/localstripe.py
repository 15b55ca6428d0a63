"""localstripe as a test fake: a real process on a free loopback port, plus what a browser would do.

Everything here speaks plain HTTP to localstripe, so tests need no stripe import of their own.
"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from store.payment.localstripe_server import (
    LocalstripeError,
    base_url_for,
    start_localstripe_process,
    stop_localstripe_process,
)

# localstripe accepts any sk_test_… key; using our own keeps tests independent of Settings defaults.
TEST_SECRET_KEY = "sk_test_storefront_tests"
TEST_PUBLISHABLE_KEY = "pk_test_storefront_tests"

CARD_SUCCEEDS = "4242424242424242"
CARD_DECLINED = "4000000000000341"  # attaches fine, declines when charged (0002 wrongly succeeds)
CARD_3DS = "4000002500003155"  # requires_action, on the SetupIntent and again on the payment


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_localstripe(port: int | None = None) -> Iterator[str]:
    """Start localstripe (our launcher: loopback, no pickle, Idempotency-Key honoured); yield its URL."""
    attempts = 1 if port is not None else 3  # a free port can be taken between probe and bind
    for attempt in range(attempts):
        chosen = port if port is not None else _free_port()
        try:
            proc = start_localstripe_process(chosen, quiet=True)
            break
        except LocalstripeError:
            if attempt == attempts - 1:
                raise
    try:
        yield base_url_for(chosen)
    finally:
        stop_localstripe_process(proc)


def _request(
    base_url: str,
    method: str,
    path: str,
    *,
    form: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    key: str = TEST_SECRET_KEY,
) -> Any:
    url = base_url.rstrip("/") + path
    if query:
        url += "?" + urllib.parse.urlencode(query)
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Authorization": f"Bearer {key}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"{method} {path} answered {exc.code}: {exc.read()!r}") from exc


def get_object(base_url: str, path: str, **query: str) -> Any:
    """GET a Stripe object or list as JSON, e.g. get_object(url, "/v1/plans/monthly-support-gbp-500")."""
    return _request(base_url, "GET", path, query=query or None)


def list_payment_intents(base_url: str) -> list[dict[str, Any]]:
    return list(get_object(base_url, "/v1/payment_intents", limit="100")["data"])


def flush(base_url: str) -> None:
    """Empty localstripe (objects and remembered idempotency keys)."""
    url = base_url.rstrip("/") + "/_config/data"
    with urllib.request.urlopen(urllib.request.Request(url, method="DELETE"), timeout=10):
        pass


def make_payment_method(client_or_base_url: Any, card_number: str) -> str:
    """A pm_… for a test card, as confirmCardSetup would give the page, without a browser.

    localstripe takes PaymentMethod.create(type="card", card={number, exp_month, exp_year, cvc}) with a
    secret key (real Stripe refuses raw card numbers from servers; this is a test-only shortcut).
    Pass localstripe's base URL, or a StripeClient already pointed at it.
    """
    card = {"number": card_number, "exp_month": 12, "exp_year": 2034, "cvc": "123"}
    if not isinstance(client_or_base_url, str):
        made = client_or_base_url.v1.payment_methods.create(params={"type": "card", "card": card})
        return str(made.id)
    form = {"type": "card"} | {f"card[{name}]": str(value) for name, value in card.items()}
    return str(_request(client_or_base_url, "POST", "/v1/payment_methods", form=form)["id"])


def authenticate_3ds(base_url: str, intent_id: str, success: bool = True) -> dict[str, Any]:
    """Do what the 3-D Secure modal's "Complete authentication" (or "Fail authentication") button does.

    localstripe wants the intent's client_secret in the body, so fetch it first with the secret key.
    """
    intent = get_object(base_url, f"/v1/payment_intents/{intent_id}")
    return dict(
        _request(
            base_url,
            "POST",
            f"/v1/payment_intents/{intent_id}/_authenticate",
            form={"client_secret": intent["client_secret"]},
            query={"success": "true" if success else "false"},
        )
    )
