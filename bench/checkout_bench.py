"""Checkout throughput: N concurrent shoppers each buying a shirt end to end against localstripe.

Every shopper loops: product page → POST /cart/add → /checkout → POST /checkout (pending order) →
/checkout/pay → a pm_… made at localstripe (what Stripe.js's confirmCardSetup gives the page) →
POST /checkout/card/pay → the thank-you page. Afterwards it checks that every completed checkout is
one paid order and one succeeded PaymentIntent (no double charge, no lost order).

    .venv/bin/python bench/checkout_bench.py [--shoppers 20] [--duration 20] [--workers 1] [--postgres URL]
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
FIELD_RE = r'name="{}" value="([^"]*)"'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def field(html: str, name: str) -> str:
    match = re.search(FIELD_RE.format(name), html)
    if not match:
        raise RuntimeError(f"no {name} field")
    return match.group(1)


def prepare(env: dict[str, str]) -> None:
    code = (
        "from store.config import get_settings\n"
        "from store.migrate import upgrade\n"
        "from store.db import unit_of_work\n"
        "from catalog import service\n"
        "upgrade(get_settings())\n"
        "with unit_of_work() as s:\n"
        "    service.ensure_collections(s)\n"
        "    f = service.ProductForm(title='Bench shirt', slug='bench-shirt', description='x',"
        " collection='t-shirts', price='25.00', sizes='S, M, L', colours='Black', tags='', published=True)\n"
        "    service.save_product(s, form=f, product=None, photo_key=None)\n"
    )
    subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, check=True)


VISITS = itertools.count()


def shopper(
    base: str, stripe: str, deadline: float, results: list[tuple[float, float, float]], errors: list[str]
) -> None:
    from tests.fakes.localstripe import CARD_SUCCEEDS, make_payment_method

    while time.time() < deadline:
        s = requests.Session()
        # Each checkout from its own address, as through nginx (STORE_TRUSTED_PROXIES is loopback):
        # card attempts are throttled per address (50 an hour), as bench/rush.py does.
        n = next(VISITS)
        s.headers["X-Forwarded-For"] = f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"
        step = "start"
        try:
            started = time.perf_counter()
            step = "product"
            page = s.get(f"{base}/shop/bench-shirt", timeout=30).text
            token = CSRF_RE.search(page).group(1)  # type: ignore[union-attr]
            step = "add"
            r = s.post(
                f"{base}/cart/add",
                data={
                    "csrf_token": token,
                    "product": "bench-shirt",
                    "size": "M",
                    "colour": "Black",
                    "quantity": "2",
                },
                timeout=30,
            )
            r.raise_for_status()
            step = "checkout"
            page = s.get(f"{base}/checkout", timeout=30).text
            step = "place"
            r = s.post(
                f"{base}/checkout",
                timeout=30,
                data={
                    "csrf_token": CSRF_RE.search(page).group(1),  # type: ignore[union-attr]
                    "email": "bench@example.org",
                    "full_name": "Bench Shopper",
                    "address_line1": "1 Test Street",
                    "town": "Leeds",
                    "postcode": "LS1 4AP",
                    "country": "GB",
                },
            )
            r.raise_for_status()
            page = r.text
            form = {name: field(page, name) for name in ("csrf_token", "order", "amount")}
            pm = make_payment_method(stripe, CARD_SUCCEEDS)
            pay_started = time.perf_counter()
            step = "pay"
            answer = s.post(
                f"{base}/checkout/card/pay",
                data={**form, "payment_method": pm},
                headers={"X-CSRF-Token": form["csrf_token"]},
                timeout=60,
            )
            body = answer.json()
            if body.get("status") != "succeeded":
                errors.append(f"pay {answer.status_code}: {body}")
                continue
            pay_ms = (time.perf_counter() - pay_started) * 1000
            step = "complete"
            done = s.get(base + body["redirect"], timeout=30)
            if "Thank you for your order" not in done.text:
                errors.append("no thank-you page")
                continue
            finished = time.perf_counter()
            results.append(((finished - started) * 1000, pay_ms, (finished - pay_started) * 1000))
        except Exception as exc:  # noqa: BLE001 - a bench counts failures, it doesn't stop at one
            errors.append(f"{step}: {repr(exc)[:160]}")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shoppers", type=int, default=20)
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--postgres", default="", help="a scratch PostgreSQL URL instead of SQLite")
    args = parser.parse_args()

    from store.payment.localstripe_server import (
        base_url_for,
        start_localstripe_process,
        stop_localstripe_process,
    )
    from tests.fakes.localstripe import list_payment_intents

    tmp = Path(tempfile.mkdtemp(prefix="checkout-bench-"))
    stripe_port, web_port = free_port(), free_port()
    stripe = base_url_for(stripe_port)
    env = {
        **os.environ,
        "STORE_ENV": "dev",
        "STORE_DATABASE_URL": args.postgres or f"sqlite:///{tmp / 'bench.db'}",
        "STORE_MEDIA_DIR": str(tmp / "media"),
        "STORE_OUTBOX_DIR": str(tmp / "outbox"),
        "STORE_STRIPE_API_BASE": stripe,
        "STORE_STRIPE_JS_URL": f"{stripe}/js.stripe.com/v3/",
        "STORE_LOG_LEVEL": "WARNING",
    }
    ls = start_localstripe_process(stripe_port, quiet=True)
    web = None
    try:
        prepare(env)
        web = subprocess.Popen(
            [str(BIN / "storefront"), "serve", "--port", str(web_port), "--workers", str(args.workers)],
            env=env,
            cwd=tmp,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{web_port}"
        for _ in range(100):
            try:
                if requests.get(f"{base}/healthz", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        results: list[tuple[float, float, float]] = []
        errors: list[str] = []
        deadline = time.time() + args.duration
        threads = [
            threading.Thread(target=shopper, args=(base, stripe, deadline, results, errors))
            for _ in range(args.shoppers)
        ]
        started = time.time()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.time() - started
        intents = [
            i for i in list_payment_intents_all(stripe, list_payment_intents) if i["status"] == "succeeded"
        ]
        totals = [r[0] for r in results]
        pays = [r[1] for r in results]
        confirmed = [r[2] for r in results]
        print(
            f"shoppers={args.shoppers} workers={args.workers} db={'postgres' if args.postgres else 'sqlite'} "
            f"duration={elapsed:.1f}s"
        )
        print(f"completed checkouts: {len(results)}  ({len(results) / elapsed:.1f}/s)  errors: {len(errors)}")
        if results:
            print(
                f"whole checkout ms: median {statistics.median(totals):.0f}  p95 {pct(totals, 0.95):.0f}  "
                f"p99 {pct(totals, 0.99):.0f}"
            )
            print(
                f"Pay request ms:    median {statistics.median(pays):.0f}  p95 {pct(pays, 0.95):.0f}  "
                f"p99 {pct(pays, 0.99):.0f}"
            )
            print(
                f"Pay -> confirmation page ms: median {statistics.median(confirmed):.0f}  "
                f"p95 {pct(confirmed, 0.95):.0f}  p99 {pct(confirmed, 0.99):.0f}"
            )
        print(
            f"succeeded PaymentIntents at localstripe: {len(intents)} (one per completed checkout expected)"
        )
        for line in sorted(set(errors))[:5]:
            print("  error:", line)
    finally:
        if web is not None:
            web.terminate()
            web.wait(10)
        stop_localstripe_process(ls)


def list_payment_intents_all(stripe: str, _unused: object) -> list[dict[str, object]]:
    """Every PaymentIntent (localstripe pages by 100 with starting_after)."""
    from tests.fakes.localstripe import get_object

    found: list[dict[str, object]] = []
    after = None
    while True:
        query = {"limit": "100"} | ({"starting_after": after} if after else {})
        page = get_object(stripe, "/v1/payment_intents", **query)
        found.extend(page["data"])
        if not page.get("has_more") or not page["data"]:
            return found
        after = page["data"][-1]["id"]


if __name__ == "__main__":
    main()
