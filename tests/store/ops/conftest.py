"""Ops tests reuse the checkout's localstripe fixtures (a real localstripe, settings pointed at it)."""

from tests.store.checkout.conftest import localstripe_url, shop, stripe_env  # noqa: F401
