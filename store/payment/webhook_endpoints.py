"""Stripe's side of going live: is the key good and of which mode, and the webhook endpoint for our URL.

Used by `storefront check` (read only) and `storefront webhooks register` (create or update, never a
second endpoint for the same URL). Same client, timeout and retries as the payment calls (gateway.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

import stripe

from store.config import Settings
from store.payment.gateway import PaymentError, _client_for, _get, _translate

logger = logging.getLogger("store.payment")

KeyMode = Literal["live", "test", "unknown"]
Action = Literal["created", "updated", "unchanged"]
ALL_EVENTS = "*"
DESCRIPTION = "Red Revolution Media shop"


@dataclass(frozen=True, slots=True)
class WebhookEndpoint:
    id: str
    url: str
    enabled_events: tuple[str, ...]
    enabled: bool

    def missing(self, wanted: list[str]) -> list[str]:
        """The wanted event types this endpoint is not subscribed to."""
        if ALL_EVENTS in self.enabled_events:
            return []
        return [event for event in wanted if event not in self.enabled_events]


@dataclass(frozen=True, slots=True)
class Registration:
    endpoint: WebhookEndpoint
    action: Action
    secret: str | None  # only when Stripe made a new endpoint: it never shows the secret again


def key_mode(settings: Settings) -> KeyMode:
    """Live or test, as the secret key's own prefix says (sk_live_…, rk_test_…)."""
    key = settings.stripe_secret_key
    if key.startswith(("sk_live_", "rk_live_")):
        return "live"
    if key.startswith(("sk_test_", "rk_test_")):
        return "test"
    return "unknown"


def _endpoint(obj: stripe.WebhookEndpoint) -> WebhookEndpoint:
    return WebhookEndpoint(
        id=str(obj.id),
        url=str(obj.url),
        enabled_events=tuple(str(e) for e in (obj.enabled_events or [])),
        enabled=str(obj.status) == "enabled",
    )


def list_webhook_endpoints(*, settings: Settings) -> list[WebhookEndpoint]:
    """Every webhook endpoint of the account (a read-only call: it also proves the key works).

    Raises PaymentError (bad key: its message says to check STORE_STRIPE_SECRET_KEY) or PaymentUnavailable.
    """
    client = _client_for(settings)
    try:
        page = client.v1.webhook_endpoints.list(params={"limit": 100})
        return [_endpoint(e) for e in page.auto_paging_iter()]
    except stripe.StripeError as exc:
        raise _translate(exc, "list webhook endpoints") from exc


def find_webhook_endpoint(url: str, *, settings: Settings) -> WebhookEndpoint | None:
    """The endpoint for url (an enabled one first), or None."""
    found = [e for e in list_webhook_endpoints(settings=settings) if e.url == url]
    found.sort(key=lambda e: not e.enabled)
    return found[0] if found else None


def register_webhook_endpoint(url: str, events: list[str], *, settings: Settings) -> Registration:
    """Make sure exactly one endpoint for url is enabled and subscribed to events (and keeps any others).

    Looks first, so running it again changes nothing; creates only when no endpoint has this URL.
    """
    client = _client_for(settings)
    existing = find_webhook_endpoint(url, settings=settings)
    try:
        if existing is None:
            # No key of our own: looking first is what prevents a second endpoint when the command is run
            # again; the SDK's retries of this one call share its own key. (A key of ours would outlive
            # the endpoint: after someone deletes it, Stripe would replay the deleted one for a day.)
            params: Any = {"url": url, "enabled_events": list(events), "description": DESCRIPTION}
            made = client.v1.webhook_endpoints.create(params=params)
            logger.info("stripe webhook endpoint created", extra={"endpoint": made.id, "url": url})
            secret = _get(made, "secret")
            return Registration(_endpoint(made), "created", str(secret) if secret else None)
        missing = existing.missing(events)
        if not missing and existing.enabled:
            return Registration(existing, "unchanged", None)
        wanted = (
            list(existing.enabled_events)
            if ALL_EVENTS in existing.enabled_events
            else (list(existing.enabled_events) + missing)
        )
        changes: Any = {"enabled_events": wanted, "disabled": False}  # event names are plain strings here
        updated = client.v1.webhook_endpoints.update(existing.id, params=changes)
        logger.info(
            "stripe webhook endpoint updated", extra={"endpoint": existing.id, "added": missing, "url": url}
        )
        return Registration(_endpoint(updated), "updated", None)
    except stripe.StripeError as exc:
        raise _translate(exc, "register webhook endpoint") from exc


__all__ = [
    "PaymentError",
    "Registration",
    "WebhookEndpoint",
    "find_webhook_endpoint",
    "key_mode",
    "list_webhook_endpoints",
    "register_webhook_endpoint",
]
