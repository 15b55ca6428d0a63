"""`storefront reconcile`: repair what lost webhooks left behind.

Each domain's reconcile.py adds its checks."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from store.registry import domain_modules


def reconcile_all(
    *, older_than_minutes: int = 30, progress: Callable[[str, int, int], None] | None = None
) -> Iterator[str]:
    modules = domain_modules("reconcile")
    for done, module in enumerate(modules, start=1):
        yield from module.reconcile(older_than_minutes=older_than_minutes)
        if progress:
            progress("reconcile", done, len(modules))
