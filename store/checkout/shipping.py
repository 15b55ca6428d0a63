"""Delivery: three zones with flat rates the owner edits, or the print provider's live rates.

Rates include VAT at the standard rate. Live rates (STORE_FULFILMENT=printful) are asked with a time
limit; when the provider is slow or says no, the flat rate for the zone is used, so checkout never
waits on, or fails because of, the provider.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from sqlmodel import Session, select

from store.checkout.models import ShippingZone
from store.config import Settings
from store.timeutil import utcnow

log = logging.getLogger("store.checkout")

LIVE_RATE_TIMEOUT_SECONDS = 4.0

# code -> (name shown to shoppers and staff, default flat rate in pence incl. VAT)
ZONES: dict[str, tuple[str, int]] = {
    "uk": ("UK", 399),
    "europe": ("Europe", 799),
    "world": ("Rest of world", 1299),
}

# Where we deliver: ISO 3166-1 alpha-2 and the name shoppers see. The UK first, then A–Z.
COUNTRIES: list[tuple[str, str]] = [
    ("GB", "United Kingdom"),
    ("AL", "Albania"),
    ("AU", "Australia"),
    ("AT", "Austria"),
    ("BE", "Belgium"),
    ("BA", "Bosnia and Herzegovina"),
    ("BR", "Brazil"),
    ("BG", "Bulgaria"),
    ("CA", "Canada"),
    ("HR", "Croatia"),
    ("CY", "Cyprus"),
    ("CZ", "Czechia"),
    ("DK", "Denmark"),
    ("EE", "Estonia"),
    ("FI", "Finland"),
    ("FR", "France"),
    ("DE", "Germany"),
    ("GR", "Greece"),
    ("HU", "Hungary"),
    ("IS", "Iceland"),
    ("IN", "India"),
    ("IE", "Ireland"),
    ("IT", "Italy"),
    ("JP", "Japan"),
    ("LV", "Latvia"),
    ("LI", "Liechtenstein"),
    ("LT", "Lithuania"),
    ("LU", "Luxembourg"),
    ("MT", "Malta"),
    ("MX", "Mexico"),
    ("ME", "Montenegro"),
    ("NL", "Netherlands"),
    ("NZ", "New Zealand"),
    ("MK", "North Macedonia"),
    ("NO", "Norway"),
    ("PL", "Poland"),
    ("PT", "Portugal"),
    ("RO", "Romania"),
    ("RS", "Serbia"),
    ("SK", "Slovakia"),
    ("SI", "Slovenia"),
    ("ZA", "South Africa"),
    ("KR", "South Korea"),
    ("ES", "Spain"),
    ("SE", "Sweden"),
    ("CH", "Switzerland"),
    ("UA", "Ukraine"),
    ("US", "United States"),
]
COUNTRY_NAMES = dict(COUNTRIES)
EUROPE = frozenset(
    {
        "AL",
        "AT",
        "BA",
        "BE",
        "BG",
        "CH",
        "CY",
        "CZ",
        "DE",
        "DK",
        "EE",
        "ES",
        "FI",
        "FR",
        "GR",
        "HR",
        "HU",
        "IE",
        "IS",
        "IT",
        "LI",
        "LT",
        "LU",
        "LV",
        "ME",
        "MK",
        "MT",
        "NL",
        "NO",
        "PL",
        "PT",
        "RO",
        "RS",
        "SE",
        "SI",
        "SK",
        "UA",
    }
)


@dataclass(frozen=True, slots=True)
class ShippingChoice:
    name: str  # "UK delivery", or the provider's service name
    amount: int  # pence incl. VAT
    live: bool = False


def zone_for(country: str) -> str:
    country = country.upper()
    if country == "GB":
        return "uk"
    if country in EUROPE:
        return "europe"
    return "world"


def flat_rates(session: Session) -> dict[str, int]:
    """Every zone's current rate: the owner's, or the default for a zone never edited."""
    rates = {code: default for code, (_, default) in ZONES.items()}
    for row in session.exec(select(ShippingZone)).all():
        if row.code in rates:
            rates[row.code] = row.rate
    return rates


def set_flat_rates(session: Session, *, rates: dict[str, int]) -> None:
    existing = {row.code: row for row in session.exec(select(ShippingZone)).all()}
    for code, rate in rates.items():
        if code not in ZONES:
            continue
        row = existing.get(code) or ShippingZone(code=code, rate=rate)
        row.rate = rate
        row.updated_at = utcnow()
        session.add(row)


def flat_choice(session: Session, country: str) -> ShippingChoice:
    code = zone_for(country)
    return ShippingChoice(name=f"{ZONES[code][0]} delivery", amount=flat_rates(session)[code])


_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="live-rates")


def live_choice(settings: Settings, *, recipient: object, items: list[object]) -> ShippingChoice | None:
    """The provider's cheapest rate for this address and these items, or None (slow, down, refused)."""
    from store.fulfilment.providers import ProviderError, provider_for

    def ask() -> list:  # type: ignore[type-arg]
        with provider_for(settings=settings) as provider:
            return provider.shipping_rates(recipient, items)  # type: ignore[arg-type]

    try:
        rates = _pool.submit(ask).result(timeout=LIVE_RATE_TIMEOUT_SECONDS)
    except FutureTimeout:
        log.warning(
            "live shipping rates timed out; using the flat rate", extra={"provider": settings.fulfilment}
        )
        return None
    except ProviderError as exc:
        log.warning(
            "live shipping rates failed; using the flat rate: %s",
            exc,
            extra={"provider": settings.fulfilment},
        )
        return None
    except Exception:  # noqa: BLE001 - a provider bug must not stop a sale
        log.exception("live shipping rates crashed; using the flat rate")
        return None
    usable = [r for r in rates if r.rate.currency == "GBP" and r.rate.amount >= 0]
    if not usable:
        return None
    best = min(usable, key=lambda r: r.rate.amount)
    return ShippingChoice(name=best.name[:120] or "Delivery", amount=best.rate.amount, live=True)
