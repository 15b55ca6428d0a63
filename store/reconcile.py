"""`storefront reconcile`: repair what lost webhooks left behind.

Each domain's reconcile.py adds its checks."""

from __future__ import annotations

from collections.abc import Iterator

from store.registry import domain_modules


def reconcile_all(*, older_than_minutes: int = 30) -> Iterator[str]:
    for module in domain_modules("reconcile"):
        yield from module.reconcile(older_than_minutes=older_than_minutes)
