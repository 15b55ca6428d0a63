"""Manual fulfilment: staff print and post by hand, so there is no remote state to ask."""

from __future__ import annotations

from store.fulfilment.providers.base import (
    ProviderItem,
    ProviderOrder,
    ProviderOrderRequest,
    Recipient,
    ShippingRate,
    validate_external_id,
)


class ManualProvider:
    name = "manual"

    def submit_order(self, req: ProviderOrderRequest) -> ProviderOrder:
        external_id = validate_external_id(req.external_id)
        return ProviderOrder(provider_id=f"manual-{external_id}", external_id=external_id, status="pending")

    def find_order(self, external_id: str) -> ProviderOrder | None:
        validate_external_id(external_id)
        return None

    def shipping_rates(self, recipient: Recipient, items: list[ProviderItem]) -> list[ShippingRate]:
        return []  # the shop's flat zone rates apply instead

    def cancel_order(self, external_id: str) -> None:
        validate_external_id(external_id)

    def confirm_order(self, external_id: str) -> ProviderOrder:
        external_id = validate_external_id(external_id)
        return ProviderOrder(provider_id=f"manual-{external_id}", external_id=external_id, status="pending")
