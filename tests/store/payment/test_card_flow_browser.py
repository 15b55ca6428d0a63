"""Flow (B) in headless Chromium: static/js/card-payment.js + localstripe's mock Stripe.js + our gateway.

A throwaway page and two JSON endpoints (setup, pay) are served by a tiny local server under the site's
own CSP (store.security: no inline script), so what passes here is what the checkout and donate pages
need from the server. Marked `browser`; skipped when /usr/bin/chromium is missing.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from store.config import Settings
from store.money import Money
from store.payment import PaymentResult, create_setup_intent, pay, retrieve_payment
from store.security import content_security_policy
from tests.fakes.localstripe import CARD_3DS, CARD_DECLINED, CARD_SUCCEEDS, get_object

pytestmark = [pytest.mark.browser, pytest.mark.no_db]

CARD_JS = Path(__file__).resolve().parents[3] / "static" / "js" / "card-payment.js"
CSRF = "test-csrf-token"
AMOUNT = Money(1999)


@dataclass
class ShopServer:
    """What a checkout route would do, minus the database: one order, one attempt key per pm."""

    settings: Settings
    csrf_failures: int = 0
    results: list[PaymentResult] = field(default_factory=list)
    attempts: int = 0
    httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.httpd is not None
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def page(self) -> str:
        s = self.settings
        return f"""<!doctype html>
<html lang="en-GB"><head><meta charset="utf-8"><title>Pay</title>
<script src="/static/js/card-payment.js" defer></script></head>
<body><h1>Checkout</h1>
<form method="post" data-card-payment data-publishable-key="{escape(s.stripe_publishable_key)}"
      data-stripe-js="{escape(s.stripe_js_url)}" data-setup-url="/setup" data-pay-url="/pay">
  <input type="hidden" name="csrf_token" value="{CSRF}">
  <label>Full name <input name="full_name" value="Ada Lovelace"></label>
  <label>Email <input name="email" value="ada@example.org"></label>
  <div data-card-element></div>
  <p data-card-errors role="alert" hidden></p>
  <button type="submit">Pay {escape(AMOUNT.format())}</button>
</form></body></html>"""

    def csp(self) -> str:
        # The site's own policy, so a flow that needs more than it allows fails here.
        return content_security_policy(self.settings)

    def answer(self, result: PaymentResult) -> dict[str, Any]:
        self.results.append(result)
        if result.status == "succeeded":
            return {"status": "succeeded", "redirect": f"/thanks?intent={result.intent_id}"}
        if result.status == "requires_action":
            return {
                "status": "requires_action",
                "client_secret": result.client_secret,
                "payment_intent": result.intent_id,
            }
        return {"status": "failed", "message": result.decline_message}

    def post(self, path: str, form: dict[str, str]) -> dict[str, Any]:
        if path == "/setup":
            setup = create_setup_intent(settings=self.settings)
            return {"client_secret": setup.client_secret}
        if "payment_intent" in form:
            # A real route checks this intent is the one stored for this order before trusting it.
            assert self.results and form["payment_intent"] == self.results[-1].intent_id
            return self.answer(retrieve_payment(form["payment_intent"], settings=self.settings))
        self.attempts += 1  # a new card is a new attempt: a new idempotency key
        result = pay(
            amount=AMOUNT,
            payment_method=form["payment_method"],
            idempotency_key=f"browser-{uuid.uuid4().hex[:8]}-pay-{self.attempts}",
            metadata={"order": "RR-BROWSER", "email": form.get("email", "")},
            settings=self.settings,
        )
        return self.answer(result)


@pytest.fixture
def shop(stripe_settings: Settings) -> Iterator[ShopServer]:
    shop = ShopServer(stripe_settings)

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Content-Security-Policy", shop.csp())
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            if path == "/":
                self._send(200, shop.page().encode(), "text/html; charset=utf-8")
            elif path == "/static/js/card-payment.js":
                self._send(200, CARD_JS.read_bytes(), "application/javascript")
            elif path == "/favicon.ico":
                self._send(204, b"", "image/x-icon")
            elif path == "/thanks":
                self._send(200, b"<!doctype html><h1>Thank you</h1>", "text/html; charset=utf-8")
            else:
                self._send(404, b"not found", "text/plain")

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
            form = {key: values[0] for key, values in parse_qs(raw).items()}
            if self.headers.get("X-CSRF-Token") != CSRF or form.get("csrf_token") != CSRF:
                shop.csrf_failures += 1
                self._send(403, b'{"detail": "CSRF"}', "application/json")
                return
            try:
                body = json.dumps(shop.post(urlsplit(self.path).path, form)).encode()
                self._send(200, body, "application/json")
            except Exception as exc:  # surface server errors in the test, not as a hung page
                self._send(500, json.dumps({"detail": repr(exc)}).encode(), "application/json")

        def log_message(self, *args: Any) -> None:
            pass

    shop.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=shop.httpd.serve_forever, daemon=True)
    thread.start()
    yield shop
    shop.httpd.shutdown()
    shop.httpd.server_close()
    assert shop.csrf_failures == 0


def fill_card(page: Any, number: str) -> None:
    # localstripe's card element: plain inputs named by their placeholders; the year takes two digits.
    page.get_by_placeholder("number").fill(number)
    page.get_by_placeholder("exp_month").fill("12")
    page.get_by_placeholder("exp_year").fill("34")
    page.get_by_placeholder("cvc").fill("123")
    page.get_by_placeholder("postal_code").fill("SW1A 1AA")


def open_checkout(page: Any, shop: ShopServer) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(shop.url + "/")
    page.get_by_placeholder("number").wait_for()
    return errors


def test_good_card_pays_and_lands_on_the_thank_you_page(page: Any, shop: ShopServer) -> None:
    errors = open_checkout(page, shop)
    fill_card(page, CARD_SUCCEEDS)

    page.get_by_role("button", name="Pay £19.99").click()

    page.wait_for_url("**/thanks?intent=pi_*")
    assert page.get_by_role("heading").inner_text() == "Thank you"
    intent_id = page.url.split("intent=")[1]
    stored = get_object(shop.settings.stripe_api_base, f"/v1/payment_intents/{intent_id}")
    assert (stored["status"], stored["amount"], stored["currency"]) == ("succeeded", 1999, "gbp")
    method = get_object(shop.settings.stripe_api_base, f"/v1/payment_methods/{stored['payment_method']}")
    assert method["card"]["last4"] == "4242"
    assert method["billing_details"]["name"] == "Ada Lovelace"
    assert errors == []


def test_3ds_card_completes_authentication_in_the_modal(page: Any, shop: ShopServer) -> None:
    errors = open_checkout(page, shop)
    fill_card(page, CARD_3DS)

    page.get_by_role("button", name="Pay £19.99").click()
    # localstripe asks twice for this card: once to set it up, once for the payment itself.
    page.get_by_role("button", name="Complete authentication").click()
    page.get_by_role("button", name="Complete authentication").click()

    page.wait_for_url("**/thanks?intent=pi_*")
    assert [r.status for r in shop.results] == ["requires_action", "succeeded"]
    assert retrieve_payment(page.url.split("intent=")[1], settings=shop.settings).status == "succeeded"
    assert errors == []


def test_failed_authentication_shows_a_message_and_allows_another_go(page: Any, shop: ShopServer) -> None:
    open_checkout(page, shop)
    fill_card(page, CARD_3DS)

    page.get_by_role("button", name="Pay £19.99").click()
    page.get_by_role("button", name="Complete authentication").click()
    page.get_by_role("button", name="Fail authentication").click()

    alert = page.get_by_role("alert")
    alert.wait_for()
    assert (
        alert.inner_text() == "Your bank could not confirm the payment. Please try again or use another card."
    )
    assert [r.status for r in shop.results] == ["requires_action", "failed"]

    # Another card on the same page: a new pm, a new attempt, and it goes through.
    fill_card(page, CARD_SUCCEEDS)
    page.get_by_role("button", name="Pay £19.99").click()
    page.wait_for_url("**/thanks?intent=pi_*")
    assert shop.attempts == 2


def test_declined_card_shows_the_decline_message_and_re_enables_pay(page: Any, shop: ShopServer) -> None:
    open_checkout(page, shop)
    fill_card(page, CARD_DECLINED)
    button = page.get_by_role("button", name="Pay £19.99")

    button.click()

    alert = page.get_by_role("alert")
    alert.wait_for()
    assert alert.inner_text() == "Your card was declined. Please try another card or contact your bank."
    assert button.is_enabled()
    assert page.url == shop.url + "/"
    assert [r.status for r in shop.results] == ["failed"]
