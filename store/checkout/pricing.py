"""The arithmetic of a sale, pure and exact: integer pence, half-up rounding, no database.

Everything the shopper sees at /cart and /checkout and everything frozen into an order comes from
`quote()`, so the page, the order and the charge can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from store.money import Money

STANDARD_VAT_BP = 2000  # shipping is charged VAT at the standard rate


@dataclass(frozen=True, slots=True, kw_only=True)
class LineIn:
    sku: str
    title: str
    options: dict[str, Any]
    quantity: int
    unit_price: int  # pence incl. VAT, from the catalogue
    vat_rate_bp: int
    extra: dict[str, Any] = field(default_factory=dict)  # carried through untouched (ids, provider data)


@dataclass(frozen=True, slots=True, kw_only=True)
class QuoteLine:
    sku: str
    title: str
    options: dict[str, Any]
    quantity: int
    unit_price: int
    gross: int  # unit_price * quantity
    discount: int  # this line's share of the order discount
    total: int  # gross - discount
    vat_rate_bp: int
    vat: int  # VAT contained in total
    extra: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class DiscountRule:
    code: str
    percent_off: int | None = None  # whole percent
    amount_off: int | None = None  # pence


@dataclass(frozen=True, slots=True, kw_only=True)
class Quote:
    currency: str
    lines: list[QuoteLine]
    subtotal: int  # goods incl. VAT, before the discount
    discount_code: str | None
    discount: int
    shipping_name: str
    shipping: int  # incl. VAT
    shipping_vat: int
    donation: int  # the optional round-up; no VAT
    vat: int  # all VAT contained in total
    total: int

    def money(self, amount: int) -> Money:
        return Money(amount, self.currency)

    @property
    def item_count(self) -> int:
        return sum(line.quantity for line in self.lines)


def vat_in(amount: int, rate_bp: int) -> int:
    """VAT contained in a VAT-inclusive amount, half up to the penny."""
    return Money(amount).vat_included(rate_bp).amount


def discount_for(rule: DiscountRule | None, subtotal: int) -> int:
    """What a code takes off the goods (never more than the goods cost; never the delivery)."""
    if rule is None or subtotal <= 0:
        return 0
    if rule.percent_off is not None:
        off = int((Decimal(subtotal) * rule.percent_off / 100).quantize(Decimal(1), ROUND_HALF_UP))
    else:
        off = rule.amount_off or 0
    return max(0, min(off, subtotal))


def apportion(total: int, weights: list[int]) -> list[int]:
    """Split `total` pence across lines in proportion to `weights`, summing exactly to `total`.

    Largest remainder: floor each share, then give the leftover pennies to the largest remainders
    (ties to the earlier line), so the split is deterministic and never off by a penny.
    """
    whole = sum(weights)
    if total == 0 or whole == 0:
        return [0 for _ in weights]
    shares = [total * w // whole for w in weights]
    remainders = [(total * w % whole, -i) for i, w in enumerate(weights)]
    leftover = total - sum(shares)
    for _, neg_index in sorted(remainders, reverse=True)[:leftover]:
        shares[-neg_index] += 1
    return shares


def round_up_donation(total: int) -> int:
    """Pence that take `total` up to the next whole pound (0 when it already is one)."""
    return (-total) % 100


def quote(
    lines: list[LineIn],
    *,
    discount: DiscountRule | None = None,
    shipping_name: str = "",
    shipping: int = 0,
    round_up: bool = False,
    currency: str = "GBP",
) -> Quote:
    subtotal = sum(line.unit_price * line.quantity for line in lines)
    off = discount_for(discount, subtotal)
    shares = apportion(off, [line.unit_price * line.quantity for line in lines])
    priced: list[QuoteLine] = []
    for line, share in zip(lines, shares, strict=True):
        gross = line.unit_price * line.quantity
        total = gross - share
        priced.append(
            QuoteLine(
                sku=line.sku,
                title=line.title,
                options=line.options,
                quantity=line.quantity,
                unit_price=line.unit_price,
                gross=gross,
                discount=share,
                total=total,
                vat_rate_bp=line.vat_rate_bp,
                vat=vat_in(total, line.vat_rate_bp),
                extra=line.extra,
            )
        )
    shipping_vat = vat_in(shipping, STANDARD_VAT_BP)
    before_donation = subtotal - off + shipping
    donation = round_up_donation(before_donation) if round_up and lines else 0
    return Quote(
        currency=currency,
        lines=priced,
        subtotal=subtotal,
        discount_code=discount.code if discount is not None and off > 0 else None,
        discount=off,
        shipping_name=shipping_name,
        shipping=shipping,
        shipping_vat=shipping_vat,
        donation=donation,
        vat=sum(line.vat for line in priced) + shipping_vat,
        total=before_donation + donation,
    )
