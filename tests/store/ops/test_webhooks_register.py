"""`storefront webhooks register`: one Stripe endpoint and one Printful webhook for STORE_BASE_URL, however
often it runs; the signing secret printed once, when Stripe makes it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from store.webhook.service import handled_types
from tests.fakes.localstripe import CARD_SUCCEEDS, TEST_SECRET_KEY, flush, make_payment_method
from tests.fakes.printful import run_fake_printful

BASE_URL = "https://shop.example.org"


@pytest.fixture
def env(localstripe_url: str) -> Iterator[dict[str, str]]:
    flush(localstripe_url)
    with run_fake_printful(token="pf-token") as fake:
        yield {
            "STORE_BASE_URL": BASE_URL,
            "STORE_STRIPE_SECRET_KEY": TEST_SECRET_KEY,
            "STORE_STRIPE_API_BASE": localstripe_url,
            "STORE_FULFILMENT": "printful",
            "STORE_PRINTFUL_TOKEN": "pf-token",
            "STORE_PRINTFUL_API_BASE": fake.base_url,
            "_FAKE": fake,  # type: ignore[dict-item]
        }


def register(env: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in env.items() if not k.startswith("_")}
    return subprocess.run(
        [sys.executable, "-m", "store.cli", "webhooks", "register"],
        env={**os.environ, **clean},
        capture_output=True,
        text=True,
        timeout=120,
    )


def endpoints(localstripe_url: str) -> list[dict[str, Any]]:
    r = httpx.get(
        f"{localstripe_url}/v1/webhook_endpoints",
        params={"limit": 100},
        headers={"Authorization": f"Bearer {TEST_SECRET_KEY}"},
    )
    return list(r.json()["data"])


def test_register_twice_leaves_one_endpoint_and_prints_the_secret_once(env, localstripe_url) -> None:  # type: ignore[no-untyped-def]
    fake = env["_FAKE"]
    first = register(env)
    assert first.returncode == 0, first.stderr
    [endpoint] = endpoints(localstripe_url)
    stripe_events = handled_types("stripe")
    assert endpoint["url"] == f"{BASE_URL}/webhooks/stripe"
    assert sorted(endpoint["enabled_events"]) == stripe_events
    assert stripe_events[:3] == [
        "customer.subscription.deleted",
        "customer.subscription.updated",
        "invoice.paid",
    ]
    out = first.stdout.splitlines()
    assert (
        out[0]
        == f"Stripe: endpoint {endpoint['id']} created for {BASE_URL}/webhooks/stripe ({len(stripe_events)} event types)"
    )
    assert out[1].startswith("Stripe: new signing secret whsec_")
    assert out[2].strip() == "set STORE_STRIPE_WEBHOOK_SECRET to it and restart the shop"
    printful_types = handled_types("printful")
    assert (
        out[3] == f"Printful: webhook set to {BASE_URL}/webhooks/printful ({len(printful_types)} event types)"
    )
    assert fake.webhook_config == {
        "url": f"{BASE_URL}/webhooks/printful",
        "types": printful_types,
        "params": [],
    }
    assert "package_shipped" in printful_types and "order_failed" in printful_types

    second = register(env)
    assert second.returncode == 0, second.stderr
    assert [e["id"] for e in endpoints(localstripe_url)] == [endpoint["id"]]
    assert second.stdout.splitlines() == [
        f"Stripe: endpoint {endpoint['id']} for {BASE_URL}/webhooks/stripe already receives all "
        f"{len(stripe_events)} event types",
        f"Printful: webhook {BASE_URL}/webhooks/printful already receives all {len(printful_types)} event types",
    ]
    assert "whsec_" not in second.stdout
    assert fake.count("POST /webhooks") == 1


def test_an_endpoint_missing_events_is_updated_not_duplicated(env, localstripe_url) -> None:  # type: ignore[no-untyped-def]
    made = httpx.post(
        f"{localstripe_url}/v1/webhook_endpoints",
        data={"url": f"{BASE_URL}/webhooks/stripe", "enabled_events[0]": "charge.refunded"},
        headers={"Authorization": f"Bearer {TEST_SECRET_KEY}"},
    ).json()
    done = register(env)
    assert done.returncode == 0, done.stderr
    [endpoint] = endpoints(localstripe_url)
    assert endpoint["id"] == made["id"]
    # Ours added; the one someone else subscribed is kept.
    assert sorted(endpoint["enabled_events"]) == sorted(["charge.refunded", *handled_types("stripe")])
    assert done.stdout.splitlines()[0].startswith(
        f"Stripe: endpoint {made['id']} for {BASE_URL}/webhooks/stripe updated"
    )
    assert "whsec_" not in done.stdout


def test_refused_key_is_one_line_exit_1(env) -> None:  # type: ignore[no-untyped-def]
    done = register({**env, "STORE_STRIPE_SECRET_KEY": "not-a-key"})
    assert done.returncode == 1
    assert (
        done.stderr
        == "error: list webhook endpoints: Stripe refused the API key; check STORE_STRIPE_SECRET_KEY\n"
    )


def test_http_base_url_refused_in_production(env) -> None:  # type: ignore[no-untyped-def]
    done = register(
        {
            **env,
            "STORE_ENV": "production",
            "STORE_SECRET_KEY": "p" * 40,
            "STORE_BASE_URL": "http://shop.example.org",
        }
    )
    assert (done.returncode, done.stderr.strip()) == (
        1,
        "error: STORE_BASE_URL must be the shop's https:// address in production",
    )


def test_registered_endpoint_receives_events_signed_with_its_secret(env, localstripe_url) -> None:  # type: ignore[no-untyped-def]
    """The demo's localstripe really delivers to the endpoint it made, with the secret it printed."""
    import hashlib
    import hmac
    import threading
    import time
    from http.server import BaseHTTPRequestHandler, HTTPServer

    received: list[tuple[bytes, str]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((body, self.headers["Stripe-Signature"]))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        done = register(
            {**env, "STORE_BASE_URL": f"http://127.0.0.1:{server.server_port}", "STORE_FULFILMENT": "manual"}
        )
        secret = done.stdout.split("new signing secret ")[1].split()[0]
        paid = httpx.post(
            f"{localstripe_url}/v1/payment_intents",
            data={
                "amount": "500",
                "currency": "gbp",
                "payment_method": make_payment_method(localstripe_url, CARD_SUCCEEDS),
                "confirm": "true",
            },
            headers={"Authorization": f"Bearer {TEST_SECRET_KEY}"},
        )
        assert paid.json()["status"] == "succeeded"
        deadline = time.time() + 10
        while not received and time.time() < deadline:
            time.sleep(0.1)
    finally:
        server.shutdown()
    assert received, "localstripe sent nothing to the registered endpoint"
    body, signature = received[0]
    stamp, v1 = (part.split("=", 1)[1] for part in signature.split(","))
    assert b'"payment_intent.succeeded"' in body
    assert hmac.compare_digest(
        v1, hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    )
