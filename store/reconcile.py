"""`storefront reconcile`: repair what lost webhooks left behind. Domains add their checks here."""

from __future__ import annotations

from collections.abc import Iterator


def reconcile_all(*, older_than_minutes: int = 30) -> Iterator[str]:
    # Orders, payments and fulfilment add their reconcilers as they land.
    yield from ()
