"""`storefront webhooks register`: point Stripe's and Printful's webhooks at STORE_BASE_URL.

Create or update, never a second endpoint: Stripe's endpoints are looked up by URL first, and Printful
keeps one webhook URL per store. The event types are exactly those some domain handles (store.webhook's
registry), so a new handler is subscribed by running the command again.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from store.config import Settings
from store.errors import DomainError
from store.ops.check import printful_webhook_url, stripe_webhook_url


class RegistrationRefused(DomainError):
    pass


def register_webhooks(settings: Settings) -> list[str]:
    """Register both webhooks; returns the lines to print (a new Stripe signing secret among them)."""
    from store.payment.webhook_endpoints import register_webhook_endpoint
    from store.webhook.service import handled_types

    if settings.is_production and urlsplit(settings.base_url).scheme != "https":
        raise RegistrationRefused("STORE_BASE_URL must be the shop's https:// address in production")
    lines = []
    url = stripe_webhook_url(settings)
    events = handled_types("stripe")
    done = register_webhook_endpoint(url, events, settings=settings)
    if done.action == "created":
        lines.append(f"Stripe: endpoint {done.endpoint.id} created for {url} ({len(events)} event types)")
    elif done.action == "updated":
        lines.append(f"Stripe: endpoint {done.endpoint.id} for {url} updated ({len(events)} event types)")
    else:
        lines.append(
            f"Stripe: endpoint {done.endpoint.id} for {url} already receives all {len(events)} event types"
        )
    if done.secret:
        lines.append(f"Stripe: new signing secret {done.secret}")
        lines.append("        set STORE_STRIPE_WEBHOOK_SECRET to it and restart the shop")
    if settings.fulfilment == "printful":
        lines.append(_register_printful(settings))
    return lines


def _register_printful(settings: Settings) -> str:
    from store.fulfilment.providers.printful import PrintfulProvider
    from store.webhook.service import handled_types

    url = printful_webhook_url(settings)
    types = handled_types("printful")
    with PrintfulProvider(settings) as provider:
        current = provider.webhook_config()
        if current is not None and current.url == url and set(types) <= set(current.types):
            return f"Printful: webhook {url} already receives all {len(types)} event types"
        provider.set_webhook_config(
            url, sorted(set(types) | set(current.types if current and current.url == url else ()))
        )
    was = f" (was {current.url})" if current is not None and current.url != url else ""
    return f"Printful: webhook set to {url} ({len(types)} event types){was}"
