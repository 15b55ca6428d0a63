"""Funding queries: costs, and the shop's figures summed in SQL (store.order.figures). No rules, no commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session, col
from sqlmodel import select as model_select

from store.funding.models import MonthlyCost
from store.order import figures
from store.order.models import Order


def costs_for(session: Session, month: date) -> Sequence[MonthlyCost]:
    return session.exec(model_select(MonthlyCost).where(MonthlyCost.month == month)).all()


def cost_row(session: Session, month: date, category: str) -> MonthlyCost | None:
    return session.exec(
        model_select(MonthlyCost).where(MonthlyCost.month == month, MonthlyCost.category == category)
    ).first()


def months_with_costs(session: Session) -> list[date]:
    return sorted(set(session.exec(model_select(col(MonthlyCost.month))).all()))


def shop_between(session: Session, start: datetime, end: datetime) -> tuple[int, int, int]:
    """(counted orders, shop margin, round-ups) for orders paid in [start, end): one aggregate query."""
    facts = figures.order_facts(col(Order.paid_at) >= start, col(Order.paid_at) < end)
    row = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(facts.c.margin), 0),
            func.coalesce(func.sum(facts.c.round_up), 0),
        )
    ).one()
    return int(row[0]), int(row[1]), int(row[2])


def attributed_totals(session: Session) -> list[tuple[int, int, int, int, int]]:
    """Per story: (article id, counted orders, product sales, shop margin, round-ups)."""
    facts = figures.order_facts(col(Order.attribution_article_id).is_not(None))
    rows: Any = session.execute(
        select(
            facts.c.attribution_article_id,
            func.count(),
            func.sum(facts.c.sales),
            func.sum(facts.c.margin),
            func.sum(facts.c.round_up),
        ).group_by(facts.c.attribution_article_id)
    ).all()
    return [(int(a), int(n), int(s), int(m), int(r)) for a, n, s, m, r in rows]
