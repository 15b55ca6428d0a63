"""Margins: what the shop keeps from a sale. One place for the card fee estimate, so the catalogue,
the funding page and reports all use the same figure."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from store.money import Money

# Stripe's standard UK card rate: 1.5 % + 20p per successful charge.
CARD_FEE_BP = 150  # basis points
CARD_FEE_FIXED_PENCE = 20


def card_fee_estimate(amount: Money) -> Money:
    """Estimated card processing fee on a charge of `amount`, rounded half up to the penny."""
    if amount.amount <= 0:
        return Money.zero(amount.currency)
    variable = (Decimal(amount.amount) * CARD_FEE_BP / 10000).quantize(Decimal(1), ROUND_HALF_UP)
    return Money(int(variable) + CARD_FEE_FIXED_PENCE, amount.currency)


def margin(*, price: Money, provider_cost: Money, vat_rate_bp: int) -> Money:
    """price (incl. VAT) − VAT in it − provider cost − card fee estimate. May be negative."""
    return price - price.vat_included(vat_rate_bp) - provider_cost - card_fee_estimate(price)
