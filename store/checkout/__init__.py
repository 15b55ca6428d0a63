"""Checkout: shipping zones, discount codes, the pending order and the card payment flow."""
