"""`storefront reconcile`, the checkout part: abandoned unpaid orders (store.checkout.unpaid).

Their cut-off is STORE_UNPAID_ORDER_MINUTES, not --older-than: that option says how stale an order
must be before Stripe is asked to repair a lost webhook, while cancelling is a rule of the shop.
"""

from __future__ import annotations

from collections.abc import Iterator

from store.checkout.unpaid import cancel_abandoned


def reconcile(older_than_minutes: int = 30) -> Iterator[str]:
    yield from cancel_abandoned()
