"""Delivery zones and the provider's live rates with a time limit and a flat-rate fallback."""

from __future__ import annotations

import time

import pytest

from store.checkout import shipping
from store.config import Settings
from store.fulfilment.providers import ProviderTemporaryError, ShippingRate
from store.money import Money

pytestmark = pytest.mark.no_db

SETTINGS = Settings(_env_file=None, fulfilment="printful", printful_token="t")  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("country", "zone"),
    [("GB", "uk"), ("gb", "uk"), ("FR", "europe"), ("NO", "europe"), ("US", "world"), ("AU", "world")],
)
def test_zone_for_country(country: str, zone: str) -> None:
    assert shipping.zone_for(country) == zone


class FakeProvider:
    name = "printful"

    def __init__(self, behaviour: str) -> None:
        self.behaviour = behaviour

    def shipping_rates(self, recipient: object, items: object) -> list[ShippingRate]:
        if self.behaviour == "slow":
            time.sleep(1.0)
        if self.behaviour == "down":
            raise ProviderTemporaryError("503")
        return [
            ShippingRate(id="EXPRESS", name="Express", rate=Money(1450), min_days=1, max_days=2),
            ShippingRate(
                id="STANDARD", name="Flat Rate (3-4 business days)", rate=Money(449), min_days=3, max_days=4
            ),
        ]


@pytest.mark.parametrize(
    ("behaviour", "expected"),
    [
        ("ok", shipping.ShippingChoice(name="Flat Rate (3-4 business days)", amount=449, live=True)),
        ("down", None),
        ("slow", None),
    ],
)
def test_live_rate_or_none_within_the_time_limit(
    monkeypatch: pytest.MonkeyPatch, behaviour: str, expected
) -> None:  # type: ignore[no-untyped-def]
    import contextlib

    import store.fulfilment.providers as providers

    monkeypatch.setattr(providers, "provider_for", lambda **kw: contextlib.nullcontext(FakeProvider(behaviour)))
    monkeypatch.setattr(shipping, "LIVE_RATE_TIMEOUT_SECONDS", 0.2)
    started = time.perf_counter()
    assert shipping.live_choice(SETTINGS, recipient=object(), items=[]) == expected
    assert time.perf_counter() - started < 0.6
