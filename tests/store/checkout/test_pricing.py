"""The arithmetic of a sale: exact pence, half-up VAT, a discount split so lines sum to the total."""

from __future__ import annotations

import pytest

from store.checkout.pricing import DiscountRule, LineIn, apportion, discount_for, quote, round_up_donation

pytestmark = pytest.mark.no_db


def line(sku: str, price: int, qty: int, vat: int = 2000) -> LineIn:
    return LineIn(sku=sku, title=sku, options={}, quantity=qty, unit_price=price, vat_rate_bp=vat)


def test_mixed_cart_with_shipping_and_percent_discount_totals_exactly() -> None:
    # given two shirts at £25.00, a cushion at £19.99 (20 % VAT) and a zero-rated book at £7.50
    lines = [line("SHIRT", 2500, 2), line("CUSHION", 1999, 1), line("BOOK", 750, 1, vat=0)]
    # when 10 % off is applied with UK delivery at £3.99
    q = quote(
        lines, discount=DiscountRule(code="TEN", percent_off=10), shipping_name="UK delivery", shipping=399
    )
    # then every figure is exact
    assert q.subtotal == 7749
    assert q.discount == 775  # 774.9 rounded half up
    assert [ln.discount for ln in q.lines] == [500, 200, 75]
    assert [ln.total for ln in q.lines] == [4500, 1799, 675]
    assert sum(ln.total for ln in q.lines) == q.subtotal - q.discount
    assert [ln.vat for ln in q.lines] == [750, 300, 0]  # 4500/6, 1799/6 = 299.83 → 300, zero rate
    assert q.shipping_vat == 67  # 399/6 = 66.5 → 67 (half up)
    assert q.vat == 1117
    assert q.total == 7749 - 775 + 399 == 7373


def test_amount_discount_is_apportioned_with_pennies_to_the_largest_remainders() -> None:
    q = quote(
        [line("A", 1000, 1), line("B", 1000, 1), line("C", 1000, 1)],
        discount=DiscountRule(code="FIVE", amount_off=500),
        shipping=799,
    )
    assert [ln.discount for ln in q.lines] == [167, 167, 166]
    assert sum(ln.total for ln in q.lines) == 2500
    assert q.total == 3299


def test_discount_never_exceeds_the_goods_and_never_touches_delivery() -> None:
    q = quote([line("A", 1200, 1)], discount=DiscountRule(code="BIG", amount_off=5000), shipping=399)
    assert q.discount == 1200
    assert q.lines[0].total == 0 and q.lines[0].vat == 0
    assert q.total == 399


@pytest.mark.parametrize(
    ("weights", "total", "expected"),
    [
        ([1, 1], 1, [1, 0]),
        ([3, 1], 10, [8, 2]),  # 7.5/2.5: tie on remainder goes to the earlier line
        ([0, 0], 5, [0, 0]),
        ([2500, 1999, 750], 775, [369, 295, 111]),
    ],
)
def test_apportion_sums_exactly(weights: list[int], total: int, expected: list[int]) -> None:
    assert apportion(total, weights) == expected
    if sum(weights):
        assert sum(apportion(total, weights)) == total


def test_percent_discount_rounds_half_up() -> None:
    assert discount_for(DiscountRule(code="X", percent_off=15), 1230) == 185  # 184.5 → 185
    assert discount_for(DiscountRule(code="X", percent_off=100), 1230) == 1230
    assert discount_for(None, 1230) == 0


def test_round_up_donation_reaches_the_next_pound_and_has_no_vat() -> None:
    assert round_up_donation(5399) == 1
    assert round_up_donation(5400) == 0
    q = quote([line("A", 2500, 2)], shipping=399, round_up=True)
    assert q.donation == 1
    assert q.total == 5400
    assert q.vat == 833 + 67
