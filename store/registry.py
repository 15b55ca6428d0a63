"""The shop's domains in one list. Each may have routes.py (`router`), models.py, tasks.py,
demo.py (`load_demo(session)`) and reconcile.py (`reconcile(session, older_than) -> Iterator[str]`);
the app, Alembic, the worker, demo data and `storefront reconcile` find them here."""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

DOMAINS = (
    "store.auth",
    "store.news",
    "store.mail",
    "catalog",
    "store.cart",
    "store.checkout",
    "store.order",
    "store.payment",
    "store.webhook",
    "store.fulfilment",
    "store.newsletter",
    "store.donation",
    "store.funding",
    "store.staff",
)


def domain_modules(name: str) -> list[ModuleType]:
    """`<domain>.<name>` for every domain that has one, in DOMAINS order."""
    found = []
    for domain in DOMAINS:
        qualified = f"{domain}.{name}"
        try:
            spec = importlib.util.find_spec(qualified)
        except ModuleNotFoundError:
            spec = None
        if spec is not None:
            found.append(importlib.import_module(qualified))
    return found
