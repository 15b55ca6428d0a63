"""What the shop's money figures mean, written once as SQL expressions (the funding page, the staff
dashboard and the attribution report all sum these; none loads orders into Python to add them up).

* Counted order: paid and anywhere after, except cancelled or refunded in full (COUNTED_STATUSES).
* Revenue of an order: what the shopper paid (goods, delivery and VAT) less refunds, not counting
  round-up donation lines (those are donations, reported as such).
* Shop margin of an order (what we keep):
      Σ product lines (line total − VAT in it − provider cost per unit × quantity)
      − card fee on the whole charge (catalog.pricing: 1.5 % + 20p, rounded half up)
      − refunds (the whole refunded amount: conservative).
  Delivery is taken to pass straight through to the print provider, so it adds nothing. The
  provider cost is the one frozen on the order line at sale (OrderLine.provider_cost).
* Round-ups: the donation lines of counted orders.

Integer pence throughout; the card fee's rounding is done with integer arithmetic, identical on
SQLite and PostgreSQL and to catalog.pricing.card_fee_estimate.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, case, func, literal, select
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Subquery
from sqlmodel import col

from catalog.pricing import CARD_FEE_BP, CARD_FEE_FIXED_PENCE
from store.order.models import Order, OrderLine, OrderStatus

COUNTED_STATUSES = (
    OrderStatus.paid,
    OrderStatus.submitted,
    OrderStatus.in_production,
    OrderStatus.shipped,
    OrderStatus.delivered,
    OrderStatus.on_hold,
)

MARGIN_NOTE = (
    "Shop margin: for paid orders (not cancelled or refunded in full), each product's price less the "
    "VAT in it and what the print provider charges us for it (as it was when the order was placed), "
    "less the card fee on the whole charge (1.5 % + 20p), less any refunds. Delivery charges pass "
    "straight to the printer; round-ups are donations."
)
REVENUE_NOTE = (
    "Revenue: what shoppers paid for paid orders (goods, delivery and VAT), less refunds; "
    "round-up donations are counted under donations, not here."
)


def counted() -> ColumnElement[bool]:
    return and_(col(Order.status).in_(COUNTED_STATUSES), col(Order.paid_at).is_not(None))


def card_fee(total: Any) -> ColumnElement[int]:
    """The card fee estimate on a charge, in pence: half up, like catalog.pricing.card_fee_estimate."""
    return case(
        (total > 0, (total * CARD_FEE_BP + 5000) // 10000 + CARD_FEE_FIXED_PENCE),
        else_=literal(0),
    )


def order_facts(*conditions: Any, name: str = "order_facts") -> Subquery:
    """One row per counted order (matching `conditions`) with its figures, summed over its lines in
    one pass: id, paid_at, attribution_article_id, revenue, margin, round_up, sales (product line
    totals). Reports aggregate over this; it never leaves the database."""
    product = col(OrderLine.kind) != "donation"
    donation = col(OrderLine.kind) == "donation"
    goods_margin = func.sum(
        case(
            (
                product,
                col(OrderLine.line_total)
                - col(OrderLine.vat_amount)
                - col(OrderLine.provider_cost) * col(OrderLine.quantity),
            ),
            else_=0,
        )
    )
    round_up = func.sum(case((donation, col(OrderLine.line_total)), else_=0))
    sales = func.sum(case((product, col(OrderLine.line_total)), else_=0))
    return (
        select(
            col(Order.id).label("id"),
            col(Order.paid_at).label("paid_at"),
            col(Order.attribution_article_id).label("attribution_article_id"),
            (col(Order.total) - col(Order.amount_refunded) - round_up).label("revenue"),
            (goods_margin - card_fee(col(Order.total)) - col(Order.amount_refunded)).label("margin"),
            round_up.label("round_up"),
            sales.label("sales"),
        )
        .select_from(Order)
        .outerjoin(OrderLine, col(OrderLine.order_id) == col(Order.id))
        .where(counted(), *conditions)
        .group_by(col(Order.id))
        .subquery(name)
    )
