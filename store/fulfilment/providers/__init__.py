"""Print providers behind one interface; the only package that knows Printful exists.

`provider_for` is the one way to get a provider: by the name a fulfilment row was written for (the
setting may have changed since) or, without a name, by STORE_FULFILMENT; closed after use.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from store.config import Settings, get_settings
from store.fulfilment.providers.base import (
    FulfilmentProvider,
    ProviderConfigError,
    ProviderError,
    ProviderItem,
    ProviderOrder,
    ProviderOrderRequest,
    ProviderRejectedError,
    ProviderTemporaryError,
    Recipient,
    Shipment,
    ShippingRate,
)
from store.fulfilment.providers.manual import ManualProvider
from store.fulfilment.providers.printful import PrintfulProvider

__all__ = [
    "FulfilmentProvider",
    "ManualProvider",
    "PrintfulProvider",
    "ProviderConfigError",
    "ProviderError",
    "ProviderItem",
    "ProviderOrder",
    "ProviderOrderRequest",
    "ProviderRejectedError",
    "ProviderTemporaryError",
    "Recipient",
    "Shipment",
    "ShippingRate",
    "provider_for",
]


@contextlib.contextmanager
def provider_for(
    name: str | None = None, *, settings: Settings | None = None
) -> Iterator[FulfilmentProvider]:
    """The provider called `name` (default: the configured one), with its HTTP client closed after use.

    Never call it inside a database transaction: record the intent and commit first (store/order/refunds.py).
    """
    settings = settings or get_settings()
    if (name or settings.fulfilment) != "printful":
        yield ManualProvider()
        return
    provider = PrintfulProvider(settings)
    try:
        yield provider
    finally:
        provider.close()
