"""Funding queries: costs, and the paid orders of a month with their lines. No rules, no commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlmodel import Session, col, select

from store.funding.models import MonthlyCost
from store.order.models import Order, OrderLine, OrderStatus

# Orders whose money stays with us: paid and anywhere after, except cancelled or fully refunded.
COUNTED_STATUSES = (
    OrderStatus.paid,
    OrderStatus.submitted,
    OrderStatus.in_production,
    OrderStatus.shipped,
    OrderStatus.delivered,
    OrderStatus.on_hold,
)


def costs_for(session: Session, month: date) -> Sequence[MonthlyCost]:
    return session.exec(select(MonthlyCost).where(MonthlyCost.month == month)).all()


def cost_row(session: Session, month: date, category: str) -> MonthlyCost | None:
    return session.exec(
        select(MonthlyCost).where(MonthlyCost.month == month, MonthlyCost.category == category)
    ).first()


def months_with_costs(session: Session) -> list[date]:
    return sorted(set(session.exec(select(col(MonthlyCost.month))).all()))


def paid_orders_between(
    session: Session, start: datetime, end: datetime
) -> list[tuple[Order, list[OrderLine]]]:
    orders = session.exec(
        select(Order).where(
            col(Order.status).in_(COUNTED_STATUSES),
            col(Order.paid_at).is_not(None),
            col(Order.paid_at) >= start,
            col(Order.paid_at) < end,
        )
    ).all()
    return _with_lines(session, orders)


def attributed_paid_orders(session: Session) -> list[tuple[Order, list[OrderLine]]]:
    orders = session.exec(
        select(Order).where(
            col(Order.status).in_(COUNTED_STATUSES), col(Order.attribution_article_id).is_not(None)
        )
    ).all()
    return _with_lines(session, orders)


def _with_lines(session: Session, orders: Sequence[Order]) -> list[tuple[Order, list[OrderLine]]]:
    ids = [o.id for o in orders if o.id is not None]
    lines: dict[int, list[OrderLine]] = {i: [] for i in ids}
    if ids:
        for line in session.exec(select(OrderLine).where(col(OrderLine.order_id).in_(ids))).all():
            lines[line.order_id].append(line)
    return [(o, lines.get(o.id or 0, [])) for o in orders]
