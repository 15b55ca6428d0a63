"""The print provider's live shipping rate for a checkout, asked BEFORE the order's transaction.

`POST /checkout` used to ask inside `place_order`, holding the write lock for up to the 4 s limit while
every other writer waited. Now the route asks first (a read-only transaction for the cart, then the
provider with no transaction open) and hands the answer to `place_order`. Answers are cached briefly
per destination and cart contents in store.cache (shared through Redis when configured), so a shopper
who corrects a typo, and a rush of shoppers with the same shirt to the same postcode, ask once.
"""

from __future__ import annotations

import hashlib
import json
import logging

from sqlmodel import select

from store import cache
from store.cart import service as carts
from store.cart.models import Cart
from store.checkout import shipping
from store.checkout.service import AddressForm, cart_lines
from store.config import Settings, get_settings
from store.db import unit_of_work
from store.fulfilment.providers import ProviderItem, Recipient
from store.fulfilment.service import recipient_for
from store.money import Money

log = logging.getLogger("store.checkout")

CACHE_SECONDS = 300


def live_shipping(
    cart_token: str | None, form: AddressForm, *, settings: Settings | None = None
) -> shipping.ShippingChoice | None:
    """The provider's cheapest rate for this cart to this address, or None (flat rates apply, the
    provider is slow or down, or there is no cart). Call it with no transaction open."""
    settings = settings or get_settings()
    if settings.fulfilment != "printful" or not cart_token:
        return None
    with unit_of_work(write=False) as session:
        cart = session.exec(select(Cart).where(Cart.token == cart_token)).first()
        lines, _unavailable = cart_lines(session, cart)
        items = [
            ProviderItem(
                variant_id=line.extra["variant"].provider_variant_id,
                sku=line.sku,
                quantity=line.quantity,
                retail_price=Money(line.unit_price),
            )
            for line in lines
        ]
    if not items:
        return None
    return cached_live_choice(settings, recipient=recipient_for(form), items=items)


def cart_token(raw_cookie: str | None) -> str | None:
    decoded = carts.decode_cookie(raw_cookie)
    return decoded[0] if decoded else None


def cached_live_choice(
    settings: Settings, *, recipient: Recipient, items: list[ProviderItem]
) -> shipping.ShippingChoice | None:
    """shipping.live_choice, remembered for CACHE_SECONDS per destination and items (answers only:
    a failure is asked again next time)."""
    where = [recipient.country_code, recipient.state_code or "", recipient.zip, recipient.city.casefold()]
    what = sorted((item.variant_id or 0, item.sku, item.quantity) for item in items)
    digest = hashlib.sha256(json.dumps([where, what]).encode()).hexdigest()[:32]
    key = f"live-rate:{settings.printful_api_base}:{digest}"
    store = cache.backend()
    hit = store.get(key)
    if hit is not None:
        name, amount = json.loads(hit)
        return shipping.ShippingChoice(name=name, amount=int(amount), live=True)
    choice = shipping.live_choice(settings, recipient=recipient, items=list(items))
    if choice is not None:
        store.set(key, json.dumps([choice.name, choice.amount]), CACHE_SECONDS)
    return choice
