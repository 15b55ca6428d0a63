"""The Printful provider against a fake Printful over real HTTP: exact counts, no database."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from store.config import Settings
from store.fulfilment.providers import (
    ManualProvider,
    PrintfulProvider,
    ProviderConfigError,
    ProviderItem,
    ProviderOrderRequest,
    ProviderRejectedError,
    ProviderTemporaryError,
    Recipient,
    Shipment,
    ShippingRate,
    provider_for,
)
from store.fulfilment.providers.printful import parse_webhook, verify_webhook_signature
from store.money import Money
from tests.fakes.fixtures import PRINTFUL_TOKEN
from tests.fakes.printful import FakePrintful, build_webhook, spawn_fake_printful

CREATE = "POST /orders"
FIND = "GET /orders/@{external_id}"

RECIPIENT = Recipient(
    name="Rosa Luxemburg",
    address1="1 Cable Street",
    city="London",
    country_code="GB",
    zip="E1 8JQ",
    email="rosa@example.org",
)
ITEM = ProviderItem(
    variant_id=4012,
    sku="TSHIRT-RED-M",
    quantity=2,
    retail_price=Money(2500),
    files=["https://shop.example/media/print/tshirt-red.png"],
    name="Solidarity T-shirt (M)",
)


def order_request(external_id: str = "R1001", **kw: object) -> ProviderOrderRequest:
    return ProviderOrderRequest(
        external_id=external_id,
        recipient=kw.pop("recipient", RECIPIENT),  # type: ignore[arg-type]
        items=kw.pop("items", [ITEM]),  # type: ignore[arg-type]
        retail_costs={"subtotal": Money(5000), "shipping": Money(429)},
    )


@pytest.fixture
def fake(printful_server: FakePrintful) -> FakePrintful:
    return printful_server  # the app's settings stay untouched: these tests build their own provider


@pytest.fixture
def sleeps() -> list[float]:
    return []


def make_settings(**overrides: Any) -> Settings:
    return Settings(_env_file=None, **overrides)  # type: ignore[call-arg]  # ignore a developer's .env


def make_provider(base_url: str, sleeps: list[float], token: str = PRINTFUL_TOKEN) -> PrintfulProvider:
    settings = make_settings(fulfilment="printful", printful_token=token, printful_api_base=base_url)
    return PrintfulProvider(settings, sleep=sleeps.append)


@pytest.fixture
def provider(fake: FakePrintful, sleeps: list[float]) -> Iterator[PrintfulProvider]:
    with make_provider(fake.base_url, sleeps) as p:
        yield p


def test_submit_creates_exactly_one_order_with_printful_body(fake: FakePrintful, provider: PrintfulProvider):
    order = provider.submit_order(order_request())

    assert fake.calls == [("GET", "/orders/@R1001"), ("POST", "/orders")]
    assert list(fake.orders) == ["R1001"]
    stored = fake.orders["R1001"]
    assert order.provider_id == str(stored["id"])
    assert order.external_id == "R1001"
    assert order.status == "pending"  # confirm=true sends it straight to production
    assert order.shipments == []
    assert stored["recipient"] == {
        "name": "Rosa Luxemburg",
        "address1": "1 Cable Street",
        "city": "London",
        "country_code": "GB",
        "zip": "E1 8JQ",
        "email": "rosa@example.org",
    }
    [item] = stored["items"]
    assert item["variant_id"] == 4012
    assert item["quantity"] == 2
    assert item["retail_price"] == "25.00"
    assert [f["url"] for f in item["files"]] == ["https://shop.example/media/print/tshirt-red.png"]
    assert stored["retail_costs"] == {"currency": "GBP", "subtotal": "50.00", "shipping": "4.29"}


def test_three_failed_posts_still_end_with_one_order(
    fake: FakePrintful, provider: PrintfulProvider, sleeps: list[float]
):
    fake.fail_next(CREATE, 3, status=500)

    order = provider.submit_order(order_request())

    assert len(fake.orders) == 1
    assert order.provider_id == str(fake.orders["R1001"]["id"])
    assert fake.count(CREATE) == 4
    assert fake.count(FIND) == 4  # once first, then before each of the three retries
    assert len(sleeps) == 3


def test_retries_are_bounded_then_temporary_error(
    fake: FakePrintful, provider: PrintfulProvider, sleeps: list[float]
):
    fake.fail_next(CREATE, 10, status=502)

    with pytest.raises(ProviderTemporaryError) as info:
        provider.submit_order(order_request())

    assert info.value.status_code == 502
    assert fake.orders == {}
    assert fake.count(CREATE) == 4
    assert len(sleeps) == 3


def test_429_honours_retry_after(fake: FakePrintful, provider: PrintfulProvider, sleeps: list[float]):
    fake.rate_limit_next(CREATE, 1, retry_after=1)

    order = provider.submit_order(order_request())

    assert sleeps == [1]
    assert len(fake.orders) == 1
    assert order.status == "pending"
    assert fake.count(CREATE) == 2


@pytest.mark.parametrize("mode", ["close", "500"])
def test_accepted_but_answer_lost_returns_the_order_without_reposting(
    fake: FakePrintful, provider: PrintfulProvider, mode: str
):
    fake.drop_response_next(CREATE, mode=mode)  # type: ignore[arg-type]

    order = provider.submit_order(order_request())

    assert len(fake.orders) == 1
    assert order.provider_id == str(fake.orders["R1001"]["id"])
    assert fake.count(CREATE) == 1
    assert fake.calls == [("GET", "/orders/@R1001"), ("POST", "/orders"), ("GET", "/orders/@R1001")]


def test_second_submit_returns_existing_order_without_post(fake: FakePrintful, provider: PrintfulProvider):
    first = provider.submit_order(order_request())

    second = provider.submit_order(order_request())

    assert second.provider_id == first.provider_id
    assert fake.count(CREATE) == 1
    assert len(fake.orders) == 1


def test_order_created_by_a_racing_worker_is_adopted(fake: FakePrintful, provider: PrintfulProvider):
    # Given another worker's order, and a first look-up that (racing) still said "not found"
    provider.submit_order(order_request())
    fake.fail_next(FIND, 1, status=404)

    # When we submit, Printful answers "already exists"
    order = provider.submit_order(order_request())

    # Then we take that order rather than failing or creating another
    assert order.provider_id == str(fake.orders["R1001"]["id"])
    assert fake.count(CREATE) == 2
    assert len(fake.orders) == 1


def test_rejection_raises_with_printful_reason_and_no_retry(fake: FakePrintful, provider: PrintfulProvider):
    bad_recipient = Recipient(name="Rosa", address1="", city="London", country_code="GB", zip="E1 8JQ")

    with pytest.raises(ProviderRejectedError) as info:
        provider.submit_order(order_request(recipient=bad_recipient))

    assert info.value.status_code == 400
    assert info.value.reason == "Recipient: address1 is required"
    assert fake.orders == {}
    assert fake.count(CREATE) == 1


def test_injected_rejection_reason_is_passed_on(fake: FakePrintful, provider: PrintfulProvider):
    fake.reject_next(CREATE, "Item 1: the print file is too small")

    with pytest.raises(ProviderRejectedError, match="print file is too small"):
        provider.submit_order(order_request())


def test_wrong_token_is_a_config_error(fake: FakePrintful, sleeps: list[float]):
    with make_provider(fake.base_url, sleeps, token="wrong") as provider, pytest.raises(ProviderConfigError):
        provider.submit_order(order_request())
    assert fake.orders == {}


def test_find_and_cancel(fake: FakePrintful, provider: PrintfulProvider):
    assert provider.find_order("R1001") is None
    provider.submit_order(order_request())

    provider.cancel_order("R1001")
    provider.cancel_order("R9999")  # absent: nothing to cancel, no error

    found = provider.find_order("R1001")
    assert found is not None
    assert found.status == "canceled"


def test_cancel_in_production_is_refused(fake: FakePrintful, provider: PrintfulProvider):
    provider.submit_order(order_request())
    fake.set_status("R1001", "inprocess")

    with pytest.raises(ProviderRejectedError, match="cannot be canceled"):
        provider.cancel_order("R1001")


def test_shipments_are_read_from_the_order(fake: FakePrintful, provider: PrintfulProvider):
    provider.submit_order(order_request())
    fake.ship("R1001", tracking_number="RM123456785GB", tracking_url="https://track.example/RM123456785GB")

    found = provider.find_order("R1001")

    assert found is not None
    assert found.status == "fulfilled"
    assert found.shipments == [
        Shipment(
            carrier="ROYAL_MAIL",
            service="Royal Mail Tracked 48",
            tracking_number="RM123456785GB",
            tracking_url="https://track.example/RM123456785GB",
        )
    ]


def test_shipping_rates_are_exact_money(fake: FakePrintful, provider: PrintfulProvider):
    rates = provider.shipping_rates(RECIPIENT, [ITEM])

    assert rates == [
        ShippingRate(
            id="STANDARD",
            name="Flat Rate (3-5 business days after fulfillment)",
            rate=Money(429, "GBP"),
            min_days=3,
            max_days=5,
        ),
        ShippingRate(
            id="EXPRESS",
            name="Express (1-2 business days after fulfillment)",
            rate=Money(999, "GBP"),
            min_days=1,
            max_days=2,
        ),
    ]
    assert fake.calls == [("POST", "/shipping/rates")]


def test_shipping_rates_retry_on_5xx(fake: FakePrintful, provider: PrintfulProvider, sleeps: list[float]):
    fake.fail_next("POST /shipping/rates", 2, status=503)

    rates = provider.shipping_rates(RECIPIENT, [ITEM])

    assert [r.rate for r in rates] == [Money(429), Money(999)]
    assert len(sleeps) == 2


@pytest.mark.parametrize("bad", ["", "x" * 33, "R 1001", "R/1001", "R1001?x=1", "Ré1001", "@R1001"])
def test_bad_external_id_refused_before_any_request(fake: FakePrintful, provider: PrintfulProvider, bad: str):
    with pytest.raises(ValueError):
        provider.submit_order(order_request(bad))
    with pytest.raises(ValueError):
        provider.find_order(bad)
    with pytest.raises(ValueError):
        provider.cancel_order(bad)
    assert fake.calls == []


def test_longest_valid_external_id_is_accepted(fake: FakePrintful, provider: PrintfulProvider):
    external_id = "Ab-_" * 8

    assert provider.submit_order(order_request(external_id)).external_id == external_id


def test_logs_carry_fields_and_never_the_token(
    fake: FakePrintful, provider: PrintfulProvider, caplog: pytest.LogCaptureFixture
):
    fake.fail_next(CREATE, 1)
    with caplog.at_level(logging.DEBUG, logger="store.fulfilment"):
        provider.submit_order(order_request())

    retry = next(r for r in caplog.records if "retrying" in r.getMessage())
    assert (retry.external_id, retry.attempt, retry.status) == ("R1001", 1, 500)  # type: ignore[attr-defined]
    assert PRINTFUL_TOKEN not in caplog.text


# -- webhooks ---------------------------------------------------------------------------------------

SECRET = "whsec-printful-test"


def test_signature_verifies_only_the_exact_body_and_secret():
    body, headers = build_webhook(
        "order_updated", {"external_id": "R1001", "status": "inprocess"}, secret=SECRET
    )
    signature = headers["x-pf-webhook-signature"]

    assert verify_webhook_signature(body, signature, SECRET) is True
    assert verify_webhook_signature(body, signature.upper(), SECRET) is True
    assert verify_webhook_signature(body, None, SECRET) is False
    assert verify_webhook_signature(body, "", SECRET) is False
    assert verify_webhook_signature(body, signature, "") is False
    assert verify_webhook_signature(body, signature, "another-secret") is False
    assert verify_webhook_signature(body.replace(b"inprocess", b"fulfilled"), signature, SECRET) is False
    assert verify_webhook_signature(body, "é" * 64, SECRET) is False
    assert signature == hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


def test_parse_package_shipped_from_the_fake(fake: FakePrintful, provider: PrintfulProvider):
    provider.submit_order(order_request())
    fake.ship("R1001", tracking_number="RM123456785GB")

    body, headers = fake.webhook("package_shipped", "R1001", secret=SECRET)
    event = parse_webhook(body)

    assert verify_webhook_signature(body, headers["x-pf-webhook-signature"], SECRET)
    assert event.type == "package_shipped"
    assert event.external_id == "R1001"
    assert event.order_status == "fulfilled"
    assert event.shipment is not None
    assert event.shipment.tracking_number == "RM123456785GB"
    assert event.shipment.carrier == "ROYAL_MAIL"
    assert event.reason is None
    assert isinstance(event.created, int)


def test_parse_order_failed_reason():
    body, _ = build_webhook(
        "order_failed",
        {"id": 7, "external_id": "R1002", "status": "failed"},
        secret=SECRET,
        reason="Print file could not be downloaded",
        created=1700000000,
    )

    event = parse_webhook(body)

    assert event.type == "order_failed"
    assert (event.external_id, event.order_status, event.created) == ("R1002", "failed", 1700000000)
    assert event.reason == "Print file could not be downloaded"


@pytest.mark.parametrize("body", [b"{}", b'{"type":"order_updated"}', b'{"type":"x","data":null}'])
def test_parse_tolerates_missing_fields(body: bytes):
    event = parse_webhook(body)

    fields = (event.external_id, event.order_status, event.shipment, event.reason, event.created)
    assert fields == (None, None, None, None, None)


def test_parse_refuses_non_object():
    with pytest.raises(ValueError):
        parse_webhook(b"[1, 2]")


# -- manual provider and the factory ----------------------------------------------------------------


def test_manual_provider_has_no_remote_state():
    manual = ManualProvider()

    order = manual.submit_order(order_request("R2001"))

    assert (order.provider_id, order.external_id, order.status) == ("manual-R2001", "R2001", "pending")
    assert manual.find_order("R2001") is None
    assert manual.shipping_rates(RECIPIENT, [ITEM]) == []
    manual.cancel_order("R2001")


def test_provider_for_picks_by_setting_or_by_name():
    with provider_for(settings=make_settings(fulfilment="manual")) as manual:
        assert manual.name == "manual"
    with provider_for(
        settings=make_settings(fulfilment="printful", printful_token=PRINTFUL_TOKEN)
    ) as printful:
        assert isinstance(printful, PrintfulProvider)
    # a row written for manual fulfilment stays manual after the setting changes, and vice versa
    with provider_for(
        "manual", settings=make_settings(fulfilment="printful", printful_token=PRINTFUL_TOKEN)
    ) as p:
        assert p.name == "manual"
    with provider_for(
        "printful", settings=make_settings(fulfilment="manual", printful_token=PRINTFUL_TOKEN)
    ) as p:
        assert p.name == "printful"


def test_printful_without_token_is_refused():
    with pytest.raises(ProviderConfigError), provider_for(settings=make_settings(fulfilment="printful")):
        pass


# -- the fake as its own process ------------------------------------------------------------------


def test_fake_runs_as_a_process_inspectable_over_http(sleeps: list[float]):
    with spawn_fake_printful(token=PRINTFUL_TOKEN) as remote:
        remote.drop_response_next(CREATE)
        with make_provider(remote.base_url, sleeps) as provider:
            order = provider.submit_order(order_request())

        assert list(remote.orders) == ["R1001"]
        assert remote.count(CREATE) == 1
        assert order.provider_id == str(remote.orders["R1001"]["id"])
        remote.reset()
        assert remote.orders == {}
        assert remote.calls == []
