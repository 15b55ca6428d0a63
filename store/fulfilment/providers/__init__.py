"""Print providers behind one interface; the only package that knows Printful exists."""

from __future__ import annotations

from store.config import Settings
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
    "get_provider",
]


def get_provider(settings: Settings) -> FulfilmentProvider:
    if settings.fulfilment == "printful":
        return PrintfulProvider(settings)
    return ManualProvider()
