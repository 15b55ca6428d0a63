"""`storefront check` against a healthy local set-up (localstripe with its webhook endpoints, the fake
Printful, Redis, an SMTP server that wants a login), then each ✗ with its one-line fix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlmodel import select

from catalog.models import Variant
from store.config import Settings
from store.ops.check import run_checks
from store.ops.webhooks import register_webhooks
from store.webhook.service import handled_types
from tests.factories import make_product
from tests.fakes.fixtures import PRINTFUL_TOKEN
from tests.fakes.localstripe import TEST_SECRET_KEY
from tests.fakes.smtp import run_smtp_sink

BASE_URL = "https://shop.example.org"
REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture
def smtp_url() -> Iterator[str]:
    with run_smtp_sink(login=("shop", "smtp-password")) as sink:
        yield sink.url


@pytest.fixture
def healthy(localstripe_url: str, printful_server: Any, smtp_url: str, db, tmp_path) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Environment for a set-up where every check passes; webhooks already registered."""
    from tests.fakes.localstripe import flush

    flush(localstripe_url)
    product = make_product(db, "No War t-shirt", sizes="S, M", colours="Black")
    for n, variant in enumerate(db.exec(select(Variant).where(Variant.product_id == product.id)).all()):
        variant.provider_variant_id = 4011 + n
        variant.print_file_url = "https://files.example.org/no-war-front.png"
        db.add(variant)
    db.commit()
    env = {
        "STORE_BASE_URL": BASE_URL,
        "STORE_STRIPE_SECRET_KEY": TEST_SECRET_KEY,
        "STORE_STRIPE_API_BASE": localstripe_url,
        "STORE_FULFILMENT": "printful",
        "STORE_PRINTFUL_TOKEN": PRINTFUL_TOKEN,
        "STORE_PRINTFUL_API_BASE": printful_server.base_url,
        "STORE_PRINTFUL_WEBHOOK_SECRET": "pf-webhook-secret",
        "STORE_SMTP_URL": smtp_url,
        "STORE_REDIS_URL": REDIS_URL,
        "STORE_MEDIA_DIR": str(tmp_path / "media"),
    }
    register_webhooks(settings(env))
    return env


def settings(env: dict[str, str], **changes: str) -> Settings:
    values = {k.removeprefix("STORE_").lower(): v for k, v in {**env, **changes}.items()}
    return Settings(**values)


def lines(env: dict[str, str], **changes: str) -> dict[str, str]:
    """name -> the printed line, from an in-process run."""
    return {r.name: r.line() for r in run_checks(settings(env, **changes))}


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "store.cli", "check", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_healthy_setup_is_all_ticks_and_exit_0(healthy: dict[str, str]) -> None:
    done = run_cli(healthy)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout.splitlines()
    assert [line.split(":")[0] for line in out[:-1]] == [
        "✓ Settings",
        "✓ Base URL",
        "✓ Database",
        "✓ Redis",
        "✓ Stripe key",
        "✓ Stripe webhook",
        "✓ Printful token",
        "✓ Printful webhook",
        "✓ Variant mapping",
        "✓ SMTP",
        "✓ Media folder",
    ]
    assert out[-1] == "11 of 11 checks passed"
    assert out[5] == (
        f"✓ Stripe webhook: {BASE_URL}/webhooks/stripe receives all {len(handled_types('stripe'))} "
        "event types the shop handles"
    )
    assert out[8] == "✓ Variant mapping: all 2 published variants map to Printful with a print file"
    assert "smtp-password" not in done.stdout  # credentials are never printed
    assert "✓ SMTP: smtp://shop:***@127.0.0.1:" in done.stdout

    as_json = run_cli(healthy, "--json")
    assert as_json.returncode == 0
    report = json.loads(as_json.stdout)
    assert report["ok"] is True and len(report["checks"]) == 11
    assert report["checks"][4] == {"name": "Stripe key", "ok": True, "detail": "works (test mode)", "fix": ""}


def test_bad_stripe_key_fails_with_its_fix(healthy: dict[str, str]) -> None:
    done = run_cli({**healthy, "STORE_STRIPE_SECRET_KEY": "not-a-key"})
    assert done.returncode == 1
    [line, webhook] = [line for line in done.stdout.splitlines() if line.startswith("✗")]
    assert webhook == "✗ Stripe webhook: not checked: Stripe refused the key — fix the Stripe key line first"
    assert line.startswith("✗ Stripe key: Stripe refused it (")
    assert line.endswith(
        "— set STORE_STRIPE_SECRET_KEY to the secret key from Stripe's dashboard (Developers → API keys)"
    )
    assert done.stdout.splitlines()[-1] == "9 of 11 checks passed; fix the ✗ lines and run it again"
    assert json.loads(run_cli({**healthy, "STORE_STRIPE_SECRET_KEY": "x"}, "--json").stdout)["ok"] is False


def test_missing_webhook_event_is_named(healthy: dict[str, str], localstripe_url: str) -> None:
    from tests.fakes.localstripe import flush

    flush(localstripe_url)  # forget the registered endpoint; make one that misses events
    made = httpx.post(
        f"{localstripe_url}/v1/webhook_endpoints",
        data={"url": f"{BASE_URL}/webhooks/stripe", "enabled_events[0]": "payment_intent.succeeded"},
        headers={"Authorization": f"Bearer {TEST_SECRET_KEY}"},
    ).json()
    missing = [e for e in handled_types("stripe") if e != "payment_intent.succeeded"]
    assert lines(healthy)["Stripe webhook"] == (
        f"✗ Stripe webhook: endpoint {made['id']} is not sent {', '.join(missing)} — "
        "run `storefront webhooks register`"
    )
    flush(localstripe_url)
    assert lines(healthy)["Stripe webhook"] == (
        f"✗ Stripe webhook: no endpoint for {BASE_URL}/webhooks/stripe — run `storefront webhooks register`"
    )


def test_unmapped_variant_is_named_unless_synced(healthy: dict[str, str], db, printful_server: Any) -> None:  # type: ignore[no-untyped-def]
    make_product(db, "Cushion", sizes="45 x 45 cm", colours="Natural, Red", collection="cushions")
    skus = sorted(v.sku for v in db.exec(select(Variant).where(Variant.provider_variant_id == None)).all())  # noqa: E711
    db.rollback()
    assert len(skus) == 2
    assert lines(healthy)["Variant mapping"] == (
        f"✗ Variant mapping: 2 of 4 published variants have no Printful variant and print file: "
        f"{skus[0]}, {skus[1]} — set each one's Printful variant id and print file URL on the staff "
        "product page, or sync it in Printful under its SKU"
    )
    printful_server.add_sync_variant(skus[0])
    printful_server.add_sync_variant(skus[1])
    assert lines(healthy)["Variant mapping"].startswith("✓ Variant mapping: all 4 published variants")


def test_unreachable_redis_and_bad_smtp_login(healthy: dict[str, str], smtp_url: str) -> None:
    found = lines(
        healthy,
        STORE_REDIS_URL="redis://127.0.0.1:1/0",
        STORE_SMTP_URL=smtp_url.replace("smtp-password", "wrong"),
    )
    assert found["Redis"].startswith("✗ Redis: cannot reach redis://127.0.0.1:1/0: ")
    assert found["Redis"].endswith(" — start Redis or fix STORE_REDIS_URL")
    assert found["SMTP"].startswith("✗ SMTP: smtp://shop:***@127.0.0.1:")
    assert found["SMTP"].endswith("refused the login (535) — fix the user and password in STORE_SMTP_URL")


def test_printful_webhook_pointing_elsewhere(healthy: dict[str, str], printful_server: Any) -> None:
    httpx.post(
        f"{printful_server.base_url}/webhooks",
        json={"url": "https://old.example.org/hook", "types": ["package_shipped"]},
        headers={"Authorization": f"Bearer {PRINTFUL_TOKEN}"},
    )
    assert lines(healthy)["Printful webhook"] == (
        f"✗ Printful webhook: events go to https://old.example.org/hook, not {BASE_URL}/webhooks/printful"
        " — run `storefront webhooks register`"
    )
    assert lines(healthy, STORE_PRINTFUL_TOKEN="wrong")["Printful token"].startswith(
        "✗ Printful token: Printful refused our token"
    )


def test_http_base_url_in_production(healthy: dict[str, str]) -> None:
    production = {
        **healthy,
        "STORE_ENV": "production",
        "STORE_SECRET_KEY": "p" * 40,
        "STORE_BASE_URL": "http://shop.example.org",
    }
    found = lines(production)
    assert found["Base URL"] == (
        "✗ Base URL: http://shop.example.org is not https — set STORE_BASE_URL to the shop's https:// address"
    )
    # Test keys and localstripe are wrong for production too, each with its own fix.
    assert (
        found["Stripe key"]
        == "✗ Stripe key: works, but it is a test key — use the sk_live_… key in production (STORE_ENV=production)"
    )
    assert found["Settings"].startswith("✗ Settings: STORE_STRIPE_API_BASE points away from Stripe")
