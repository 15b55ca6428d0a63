"""The print-provider interface: plain typed values and errors, no HTTP and no database."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from store.money import Money

# Printful's rule for external_id; we use our order number, so it doubles as the idempotency key.
EXTERNAL_ID_RE = re.compile(r"[0-9A-Za-z_-]{1,32}")

# Printful's order statuses, in the words it uses.
ORDER_STATUSES = frozenset(
    {"draft", "pending", "failed", "canceled", "inprocess", "onhold", "partial", "fulfilled"}
)


def validate_external_id(external_id: str) -> str:
    """Return external_id unchanged, or raise ValueError: a bad id is our bug, never worth a request."""
    if not isinstance(external_id, str) or not EXTERNAL_ID_RE.fullmatch(external_id):
        raise ValueError(f"external_id must match [0-9A-Za-z_-]{{1,32}}, got {external_id!r}")
    return external_id


@dataclass(frozen=True, slots=True, kw_only=True)
class Recipient:
    name: str
    address1: str
    address2: str | None = None
    city: str
    state_code: str | None = None
    country_code: str
    zip: str
    email: str | None = None
    phone: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderItem:
    variant_id: int | None  # the provider's catalogue variant; None means "use sku as external_variant_id"
    sku: str
    quantity: int
    retail_price: Money  # per unit, VAT included
    files: list[str] = field(default_factory=list)  # print file URLs
    name: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderOrderRequest:
    external_id: str
    recipient: Recipient
    items: list[ProviderItem]
    # e.g. {"subtotal": Money(...), "shipping": Money(...), "tax": Money(...)}; Money becomes "12.34".
    retail_costs: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Shipment:
    carrier: str | None
    service: str | None
    tracking_number: str | None
    tracking_url: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderOrder:
    provider_id: str
    external_id: str
    status: str  # one of ORDER_STATUSES
    shipments: list[Shipment] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class ShippingRate:
    id: str
    name: str
    rate: Money
    min_days: int | None
    max_days: int | None


class ProviderError(Exception):
    """Anything that went wrong talking to the provider."""

    def __init__(self, message: str, *, status_code: int | None = None, reason: str | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.reason = reason or message


class ProviderTemporaryError(ProviderError):
    """5xx, 429 or network trouble after our retries ran out: safe to try again later."""


class ProviderRejectedError(ProviderError):
    """The provider refused the request (4xx); `reason` is its own words, fit to show staff."""


class ProviderConfigError(ProviderError):
    """401/403: our token is wrong or lacks a scope. Not the order's fault; fix settings and retry."""


class FulfilmentProvider(Protocol):
    name: str

    def submit_order(self, req: ProviderOrderRequest) -> ProviderOrder:
        """Create the order at most once per external_id; return the existing one if already there."""
        ...

    def find_order(self, external_id: str) -> ProviderOrder | None: ...

    def shipping_rates(self, recipient: Recipient, items: list[ProviderItem]) -> list[ShippingRate]: ...

    def cancel_order(self, external_id: str) -> None: ...

    def confirm_order(self, external_id: str) -> ProviderOrder:
        """Approve an order the provider holds for confirmation (a draft, or on hold for approval)."""
        ...
