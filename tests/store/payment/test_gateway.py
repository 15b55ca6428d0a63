"""store.payment.gateway against a real localstripe process, through the real stripe SDK."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from store.config import Settings
from store.money import Money
from store.payment import (
    IdempotencyKeyReused,
    PaymentError,
    PaymentUnavailable,
    RefundRefused,
    WebhookSignatureInvalid,
    cancel_monthly_support,
    create_setup_intent,
    pay,
    refund,
    retrieve_monthly_support,
    retrieve_payment,
    start_monthly_support,
    verify_webhook,
)
from store.payment.localstripe_server import register_webhook
from tests.fakes.localstripe import (
    CARD_3DS,
    CARD_DECLINED,
    CARD_SUCCEEDS,
    authenticate_3ds,
    flush,
    get_object,
    list_payment_intents,
    make_payment_method,
    running_localstripe,
)

pytestmark = pytest.mark.no_db

GENERIC_DECLINE = "Your card was declined. Please try another card or contact your bank."


def new_key(label: str = "pay") -> str:
    return f"test-{label}-{uuid.uuid4().hex[:12]}"


# --- setup intents --------------------------------------------------------------------------------


def test_setup_intent_has_a_client_secret_the_browser_can_use(stripe_settings: Settings) -> None:
    result = create_setup_intent(settings=stripe_settings)

    assert result.id.startswith("seti_")
    assert result.client_secret.startswith(f"{result.id}_secret_")
    assert result.client_secret not in repr(result)


# --- paying ---------------------------------------------------------------------------------------


def test_good_card_succeeds_with_the_exact_amount(stripe_settings: Settings, localstripe_url: str) -> None:
    pm = make_payment_method(localstripe_url, CARD_SUCCEEDS)

    result = pay(
        amount=Money(2599),
        payment_method=pm,
        idempotency_key=new_key(),
        metadata={"order": "RR-1001"},
        settings=stripe_settings,
    )

    assert result.status == "succeeded"
    assert result.amount == Money(2599, "GBP")
    assert result.decline_message is None
    assert result.intent_id is not None
    stored = get_object(localstripe_url, f"/v1/payment_intents/{result.intent_id}")
    assert (stored["amount"], stored["currency"], stored["status"]) == (2599, "gbp", "succeeded")
    assert stored["metadata"] == {"order": "RR-1001"}
    assert stored["payment_method"] == pm


def test_declined_card_fails_with_a_shopper_message_not_an_exception(
    stripe_settings: Settings, localstripe_url: str
) -> None:
    pm = make_payment_method(localstripe_url, CARD_DECLINED)

    result = pay(
        amount=Money(1500),
        payment_method=pm,
        idempotency_key=new_key(),
        metadata={},
        settings=stripe_settings,
    )

    assert result.status == "failed"
    assert result.decline_message == GENERIC_DECLINE
    assert result.client_secret is None
    # localstripe's error names only the charge; the gateway finds the intent through it.
    assert result.intent_id is not None and result.intent_id.startswith("pi_")
    later = retrieve_payment(result.intent_id, settings=stripe_settings)
    assert (later.status, later.stripe_status) == ("failed", "requires_payment_method")
    assert later.decline_message == GENERIC_DECLINE


def test_3ds_card_requires_action_then_succeeds_after_authentication(
    stripe_settings: Settings, localstripe_url: str
) -> None:
    pm = make_payment_method(localstripe_url, CARD_3DS)

    first = pay(
        amount=Money(4200),
        payment_method=pm,
        idempotency_key=new_key(),
        metadata={},
        settings=stripe_settings,
    )
    assert first.status == "requires_action"
    assert first.intent_id is not None
    assert first.client_secret is not None and first.client_secret.startswith(f"{first.intent_id}_secret_")

    authenticate_3ds(localstripe_url, first.intent_id, success=True)

    after = retrieve_payment(first.intent_id, settings=stripe_settings)
    assert (after.status, after.amount) == ("succeeded", Money(4200))


def test_3ds_failed_authentication_reads_as_failed(stripe_settings: Settings, localstripe_url: str) -> None:
    pm = make_payment_method(localstripe_url, CARD_3DS)
    first = pay(
        amount=Money(4200),
        payment_method=pm,
        idempotency_key=new_key(),
        metadata={},
        settings=stripe_settings,
    )
    assert first.intent_id is not None

    authenticate_3ds(localstripe_url, first.intent_id, success=False)

    after = retrieve_payment(first.intent_id, settings=stripe_settings)
    assert after.status == "failed"
    assert after.decline_message == (
        "Your bank could not confirm the payment. Please try again or use another card."
    )


def test_same_idempotency_key_gives_the_same_intent_and_only_one(
    stripe_settings: Settings, localstripe_url: str
) -> None:
    flush(localstripe_url)
    pm = make_payment_method(localstripe_url, CARD_SUCCEEDS)
    key = new_key()

    first = pay(
        amount=Money(1000), payment_method=pm, idempotency_key=key, metadata={}, settings=stripe_settings
    )
    again = pay(
        amount=Money(1000), payment_method=pm, idempotency_key=key, metadata={}, settings=stripe_settings
    )

    assert again.intent_id == first.intent_id
    assert again.status == first.status == "succeeded"
    assert [intent["id"] for intent in list_payment_intents(localstripe_url)] == [first.intent_id]


def test_same_key_after_a_decline_replays_the_decline(
    stripe_settings: Settings, localstripe_url: str
) -> None:
    flush(localstripe_url)
    pm = make_payment_method(localstripe_url, CARD_DECLINED)
    key = new_key()

    first = pay(
        amount=Money(900), payment_method=pm, idempotency_key=key, metadata={}, settings=stripe_settings
    )
    again = pay(
        amount=Money(900), payment_method=pm, idempotency_key=key, metadata={}, settings=stripe_settings
    )

    assert first.status == again.status == "failed"
    assert again.intent_id == first.intent_id
    assert len(list_payment_intents(localstripe_url)) == 1


def test_same_key_with_another_amount_is_refused(stripe_settings: Settings, localstripe_url: str) -> None:
    pm = make_payment_method(localstripe_url, CARD_SUCCEEDS)
    key = new_key()
    pay(amount=Money(1000), payment_method=pm, idempotency_key=key, metadata={}, settings=stripe_settings)

    with pytest.raises(IdempotencyKeyReused):
        pay(amount=Money(1200), payment_method=pm, idempotency_key=key, metadata={}, settings=stripe_settings)


def test_unknown_payment_method_is_an_error_not_a_decline(stripe_settings: Settings) -> None:
    with pytest.raises(PaymentError) as caught:
        pay(
            amount=Money(1000),
            payment_method="pm_doesnotexist",
            idempotency_key=new_key(),
            metadata={},
            settings=stripe_settings,
        )
    assert not isinstance(caught.value, PaymentUnavailable)


def test_zero_amount_is_refused_before_calling_stripe(stripe_settings: Settings) -> None:
    with pytest.raises(ValueError):
        pay(
            amount=Money(0),
            payment_method="pm_x",
            idempotency_key=new_key(),
            metadata={},
            settings=stripe_settings,
        )


def test_unreachable_stripe_raises_payment_unavailable(stripe_settings: Settings) -> None:
    closed = stripe_settings.model_copy(update={"stripe_api_base": "http://127.0.0.1:9"})

    with pytest.raises(PaymentUnavailable):
        retrieve_payment("pi_whatever", settings=closed)


def test_refused_api_key_is_a_payment_error(stripe_settings: Settings) -> None:
    wrong = stripe_settings.model_copy(update={"stripe_secret_key": "not-a-secret-key"})

    with pytest.raises(PaymentError, match="API key") as caught:
        create_setup_intent(settings=wrong)
    assert not isinstance(caught.value, PaymentUnavailable)


def test_logs_name_the_key_and_intent_but_no_card_or_secret(
    stripe_settings: Settings, localstripe_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    pm = make_payment_method(localstripe_url, CARD_SUCCEEDS)
    key = new_key()

    with caplog.at_level(logging.DEBUG, logger="store.payment"):
        result = pay(
            amount=Money(1000), payment_method=pm, idempotency_key=key, metadata={}, settings=stripe_settings
        )

    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("store.payment"))
    assert key in ours and str(result.intent_id) in ours
    for secret in (CARD_SUCCEEDS, stripe_settings.stripe_secret_key, str(result.client_secret)):
        assert secret not in caplog.text


# --- refunds --------------------------------------------------------------------------------------


def _paid(settings: Settings, base_url: str, pence: int) -> str:
    result = pay(
        amount=Money(pence),
        payment_method=make_payment_method(base_url, CARD_SUCCEEDS),
        idempotency_key=new_key(),
        metadata={},
        settings=settings,
    )
    assert result.status == "succeeded" and result.intent_id
    return result.intent_id


def test_partial_refund_then_the_rest(stripe_settings: Settings, localstripe_url: str) -> None:
    intent_id = _paid(stripe_settings, localstripe_url, 2500)

    part = refund(
        intent_id=intent_id, amount=Money(1000), idempotency_key=new_key("refund"), settings=stripe_settings
    )
    rest = refund(
        intent_id=intent_id, amount=Money(1500), idempotency_key=new_key("refund"), settings=stripe_settings
    )

    assert (part.amount, part.status) == (Money(1000), "succeeded")
    assert (rest.amount, rest.status) == (Money(1500), "succeeded")
    assert part.id != rest.id
    intent = get_object(localstripe_url, f"/v1/payment_intents/{intent_id}")
    charge = get_object(localstripe_url, f"/v1/charges/{intent['latest_charge']['id']}")
    assert (charge["amount_refunded"], charge["refunded"]) == (2500, True)


def test_same_refund_key_refunds_once(stripe_settings: Settings, localstripe_url: str) -> None:
    intent_id = _paid(stripe_settings, localstripe_url, 2000)
    key = new_key("refund")

    first = refund(intent_id=intent_id, amount=Money(500), idempotency_key=key, settings=stripe_settings)
    again = refund(intent_id=intent_id, amount=Money(500), idempotency_key=key, settings=stripe_settings)

    assert again.id == first.id
    refunds = get_object(localstripe_url, "/v1/refunds", payment_intent=intent_id)["data"]
    assert [r["id"] for r in refunds] == [first.id]


def test_localstripe_does_not_refuse_an_over_refund_so_the_caller_must(
    stripe_settings: Settings, localstripe_url: str
) -> None:
    # Real Stripe answers 400 (RefundRefused); localstripe refunds more than was paid. Pinned here so a
    # change in localstripe is noticed, and so nobody relies on Stripe to enforce the limit in tests.
    intent_id = _paid(stripe_settings, localstripe_url, 1000)
    refund(
        intent_id=intent_id, amount=Money(1000), idempotency_key=new_key("refund"), settings=stripe_settings
    )

    over = refund(
        intent_id=intent_id, amount=Money(1), idempotency_key=new_key("refund"), settings=stripe_settings
    )

    assert over.status == "succeeded"


def test_refunding_a_declined_payment_is_refused(stripe_settings: Settings, localstripe_url: str) -> None:
    declined = pay(
        amount=Money(700),
        payment_method=make_payment_method(localstripe_url, CARD_DECLINED),
        idempotency_key=new_key(),
        metadata={},
        settings=stripe_settings,
    )
    assert declined.intent_id

    with pytest.raises(RefundRefused):
        refund(
            intent_id=declined.intent_id,
            amount=Money(700),
            idempotency_key=new_key("refund"),
            settings=stripe_settings,
        )


# --- webhooks -------------------------------------------------------------------------------------


def _signed(body: bytes, secret: str, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    signature = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={signature}"


EVENT = json.dumps(
    {
        "id": "evt_test_1",
        "object": "event",
        "type": "payment_intent.succeeded",
        "data": {"object": {"id": "pi_test_1", "object": "payment_intent", "amount": 2599}},
    }
).encode()


def test_correctly_signed_webhook_is_accepted(stripe_settings: Settings) -> None:
    event = verify_webhook(
        EVENT, _signed(EVENT, stripe_settings.stripe_webhook_secret), settings=stripe_settings
    )

    assert event["id"] == "evt_test_1"
    assert event["type"] == "payment_intent.succeeded"
    assert event["data"]["object"]["amount"] == 2599
    assert isinstance(event, dict) and isinstance(event["data"], dict)


def test_signature_just_inside_the_tolerance_is_accepted(stripe_settings: Settings) -> None:
    header = _signed(EVENT, stripe_settings.stripe_webhook_secret, int(time.time()) - 290)

    assert verify_webhook(EVENT, header, settings=stripe_settings)["id"] == "evt_test_1"


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "t=123,v0=abc",
        "garbage",
        "t={now},v1=" + "0" * 64,
    ],
    ids=["missing", "empty", "no-v1", "unparsable", "wrong-signature"],
)
def test_bad_signatures_are_refused(stripe_settings: Settings, header: str | None) -> None:
    if header:
        header = header.replace("{now}", str(int(time.time())))

    with pytest.raises(WebhookSignatureInvalid):
        verify_webhook(EVENT, header, settings=stripe_settings)


def test_signature_with_another_secret_is_refused(stripe_settings: Settings) -> None:
    with pytest.raises(WebhookSignatureInvalid):
        verify_webhook(EVENT, _signed(EVENT, "whsec_someone_else"), settings=stripe_settings)


def test_tampered_body_is_refused(stripe_settings: Settings) -> None:
    header = _signed(EVENT, stripe_settings.stripe_webhook_secret)

    with pytest.raises(WebhookSignatureInvalid):
        verify_webhook(EVENT.replace(b"2599", b"1"), header, settings=stripe_settings)


def test_signature_301_seconds_old_is_refused(stripe_settings: Settings) -> None:
    header = _signed(EVENT, stripe_settings.stripe_webhook_secret, int(time.time()) - 301)

    with pytest.raises(WebhookSignatureInvalid, match="tolerance"):
        verify_webhook(EVENT, header, settings=stripe_settings)


def test_signed_body_that_is_not_json_is_refused(stripe_settings: Settings) -> None:
    body = b"\xff not json"

    with pytest.raises(WebhookSignatureInvalid):
        verify_webhook(body, _signed(body, stripe_settings.stripe_webhook_secret), settings=stripe_settings)


class _Listener:
    """A tiny HTTP server that records every POST, like our /webhooks/stripe would receive them."""

    def __init__(self) -> None:
        received: list[tuple[float, dict[str, str], bytes]] = []
        arrived = threading.Condition()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with arrived:
                    received.append((time.monotonic(), dict(self.headers), body))
                    arrived.notify_all()
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.received = received
        self.arrived = arrived
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/stripe"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def wait_for(self, predicate: Any, timeout: float) -> tuple[float, dict[str, str], bytes]:
        deadline = time.monotonic() + timeout
        with self.arrived:
            while True:
                for item in self.received:
                    if predicate(json.loads(item[2])):
                        return item
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no matching webhook in {timeout} s; got {len(self.received)}")
                self.arrived.wait(remaining)


@pytest.fixture
def listener() -> Iterator[_Listener]:
    server = _Listener()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def test_signed_payment_intent_succeeded_webhook_arrives_and_verifies(
    stripe_settings: Settings, listener: _Listener
) -> None:
    # A localstripe of its own: webhook registrations cannot be removed and would outlive this test.
    with running_localstripe() as base_url:
        settings = stripe_settings.model_copy(update={"stripe_api_base": base_url})
        register_webhook(base_url, "storefront", listener.url, settings.stripe_webhook_secret)
        pm = make_payment_method(base_url, CARD_SUCCEEDS)

        paid_at = time.monotonic()
        result = pay(
            amount=Money(3100),
            payment_method=pm,
            idempotency_key=new_key(),
            metadata={"order": "RR-7"},
            settings=settings,
        )
        assert result.status == "succeeded"

        arrived_at, headers, body = listener.wait_for(
            lambda e: (
                e["type"] == "payment_intent.succeeded" and e["data"]["object"]["id"] == result.intent_id
            ),
            timeout=10,
        )

    assert 0.8 <= arrived_at - paid_at < 5  # localstripe sends about a second later
    event = verify_webhook(body, headers.get("Stripe-Signature"), settings=settings)
    assert event["type"] == "payment_intent.succeeded"
    assert event["data"]["object"]["amount"] == 3100
    assert event["data"]["object"]["metadata"] == {"order": "RR-7"}
    assert event["id"].startswith("evt_")


def test_webhook_registration_with_an_events_filter(stripe_settings: Settings, listener: _Listener) -> None:
    with running_localstripe() as base_url:
        settings = stripe_settings.model_copy(update={"stripe_api_base": base_url})
        register_webhook(
            base_url,
            "failures-only",
            listener.url,
            settings.stripe_webhook_secret,
            events=["payment_intent.payment_failed"],
        )
        ok = pay(
            amount=Money(100),
            payment_method=make_payment_method(base_url, CARD_SUCCEEDS),
            idempotency_key=new_key(),
            metadata={},
            settings=settings,
        )
        declined = pay(
            amount=Money(100),
            payment_method=make_payment_method(base_url, CARD_DECLINED),
            idempotency_key=new_key(),
            metadata={},
            settings=settings,
        )

        _, headers, body = listener.wait_for(
            lambda e: e["data"]["object"]["id"] == declined.intent_id, timeout=10
        )
        time.sleep(0.5)  # both events were due at about the same moment

    assert ok.status == "succeeded"
    types = [json.loads(item[2])["type"] for item in listener.received]
    assert types == ["payment_intent.payment_failed"]
    assert verify_webhook(body, headers.get("Stripe-Signature"), settings=settings)["type"] == types[0]


# --- monthly support ------------------------------------------------------------------------------


def test_monthly_support_creates_an_active_subscription_for_five_pounds(
    stripe_settings: Settings, localstripe_url: str
) -> None:
    pm = make_payment_method(localstripe_url, CARD_SUCCEEDS)

    result = start_monthly_support(
        email="ada@example.org",
        name="Ada Lovelace",
        amount=Money(500),
        payment_method=pm,
        idempotency_key=new_key("monthly"),
        settings=stripe_settings,
    )

    assert result.status == "active"
    assert result.client_secret is None and result.decline_message is None
    assert result.subscription_id and result.customer_id
    subscription = get_object(localstripe_url, f"/v1/subscriptions/{result.subscription_id}")
    assert subscription["status"] == "active"
    assert subscription["customer"] == result.customer_id
    plan = subscription["plan"]
    assert (plan["id"], plan["amount"], plan["currency"], plan["interval"]) == (
        "monthly-support-gbp-500",
        500,
        "gbp",
        "month",
    )
    assert plan["product"] == "monthly-support"
    invoice = get_object(localstripe_url, f"/v1/invoices/{subscription['latest_invoice']}")
    assert (invoice["status"], invoice["amount_paid"]) == ("paid", 500)
    customer = get_object(localstripe_url, f"/v1/customers/{result.customer_id}")
    assert (customer["email"], customer["name"]) == ("ada@example.org", "Ada Lovelace")
    assert customer["invoice_settings"]["default_payment_method"] == pm
    assert retrieve_monthly_support(result.subscription_id, settings=stripe_settings).status == "active"


def test_second_donor_at_the_same_amount_reuses_the_plan(
    stripe_settings: Settings, localstripe_url: str
) -> None:
    for name in ("First", "Second"):
        result = start_monthly_support(
            email=f"{name.lower()}@example.org",
            name=name,
            amount=Money(1000),
            payment_method=make_payment_method(localstripe_url, CARD_SUCCEEDS),
            idempotency_key=new_key("monthly"),
            settings=stripe_settings,
        )
        assert result.status == "active"

    plans = [p["id"] for p in get_object(localstripe_url, "/v1/plans", limit="100")["data"]]
    assert plans.count("monthly-support-gbp-1000") == 1


def test_monthly_support_retry_with_the_same_key_makes_nothing_new(
    stripe_settings: Settings, localstripe_url: str
) -> None:
    pm = make_payment_method(localstripe_url, CARD_SUCCEEDS)
    key = new_key("monthly")
    args: dict[str, Any] = dict(
        email="b@example.org",
        name="B",
        amount=Money(500),
        payment_method=pm,
        idempotency_key=key,
        settings=stripe_settings,
    )

    first = start_monthly_support(**args)
    again = start_monthly_support(**args)

    assert (again.customer_id, again.subscription_id) == (first.customer_id, first.subscription_id)


def test_monthly_support_with_a_declined_card_fails_and_leaves_nothing_subscribed(
    stripe_settings: Settings, localstripe_url: str
) -> None:
    result = start_monthly_support(
        email="c@example.org",
        name="C",
        amount=Money(500),
        payment_method=make_payment_method(localstripe_url, CARD_DECLINED),
        idempotency_key=new_key("monthly"),
        settings=stripe_settings,
    )

    assert result.status == "failed"
    assert result.decline_message == GENERIC_DECLINE
    assert result.subscription_id is not None
    assert get_object(localstripe_url, f"/v1/subscriptions/{result.subscription_id}")["status"] == "canceled"


def test_monthly_support_with_3ds_requires_action_then_becomes_active(
    stripe_settings: Settings, localstripe_url: str
) -> None:
    result = start_monthly_support(
        email="d@example.org",
        name="D",
        amount=Money(500),
        payment_method=make_payment_method(localstripe_url, CARD_3DS),
        idempotency_key=new_key("monthly"),
        settings=stripe_settings,
    )
    assert result.status == "requires_action"
    assert result.client_secret and result.subscription_id
    intent_id = result.client_secret.split("_secret_")[0]

    authenticate_3ds(localstripe_url, intent_id, success=True)

    assert retrieve_monthly_support(result.subscription_id, settings=stripe_settings).status == "active"


def test_cancel_monthly_support_twice_is_fine(stripe_settings: Settings, localstripe_url: str) -> None:
    started = start_monthly_support(
        email="e@example.org",
        name="E",
        amount=Money(500),
        payment_method=make_payment_method(localstripe_url, CARD_SUCCEEDS),
        idempotency_key=new_key("monthly"),
        settings=stripe_settings,
    )
    assert started.subscription_id

    cancel_monthly_support(started.subscription_id, settings=stripe_settings)
    cancel_monthly_support(started.subscription_id, settings=stripe_settings)

    assert get_object(localstripe_url, f"/v1/subscriptions/{started.subscription_id}")["status"] == "canceled"
    assert retrieve_monthly_support(started.subscription_id, settings=stripe_settings).status == "cancelled"


def test_monthly_support_with_a_card_that_cannot_be_saved_fails_before_subscribing(
    stripe_settings: Settings, localstripe_url: str
) -> None:
    # 4000 0000 0000 0002 is refused when attached to a customer (localstripe and Stripe alike).
    result = start_monthly_support(
        email="f@example.org",
        name="F",
        amount=Money(500),
        payment_method=make_payment_method(localstripe_url, "4000000000000002"),
        idempotency_key=new_key("monthly"),
        settings=stripe_settings,
    )

    assert (result.status, result.subscription_id) == ("failed", None)
    assert result.decline_message == GENERIC_DECLINE
