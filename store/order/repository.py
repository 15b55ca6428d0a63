"""Order queries: no rules, no commits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from store.fulfilment.models import Fulfilment
from store.order.models import Order, OrderEvent, OrderLine, OrderStatus, Payment, Refund, RefundStatus

PAGE_SIZE = 50


def lines(session: Session, order: Order) -> Sequence[OrderLine]:
    return session.exec(
        select(OrderLine).where(OrderLine.order_id == order.id).order_by(col(OrderLine.id))
    ).all()


def events(session: Session, order: Order) -> Sequence[OrderEvent]:
    return session.exec(
        select(OrderEvent).where(OrderEvent.order_id == order.id).order_by(col(OrderEvent.id))
    ).all()


def payments(session: Session, order: Order) -> Sequence[Payment]:
    return session.exec(select(Payment).where(Payment.order_id == order.id).order_by(col(Payment.id))).all()


def refunds(session: Session, order: Order) -> Sequence[Refund]:
    return session.exec(select(Refund).where(Refund.order_id == order.id).order_by(col(Refund.id))).all()


def shipments(session: Session, order: Order) -> Sequence[object]:
    from store.fulfilment.models import Shipment

    return session.exec(
        select(Shipment)
        .where(Shipment.order_id == order.id)
        .order_by(col(Shipment.shipped_at), col(Shipment.id))
    ).all()


# Orders that staff must post themselves: manual fulfilment, paid, not yet shipped or cancelled.
TO_SHIP_ORDER_STATUSES = (OrderStatus.paid, OrderStatus.submitted, OrderStatus.in_production)
TO_SHIP_FULFILMENT_STATUSES = ("pending", "submitting", "submitted", "in_production")


@dataclass(frozen=True)
class OrderFilter:
    """The staff orders list's filters (also the CSV export's and the dashboard's links)."""

    status: str | None = None
    query: str = ""
    needs: str = ""  # "shipping" (to post by hand) or "refund" (a refund is pending)
    placed_from: datetime | None = None  # inclusive
    placed_before: datetime | None = None  # exclusive


def to_ship() -> ColumnElement[bool]:
    # IN (…) rather than EXISTS: counted from the small indexed side, not by visiting every order.
    manual = select(Fulfilment.order_id).where(
        col(Fulfilment.provider) == "manual", col(Fulfilment.status).in_(TO_SHIP_FULFILMENT_STATUSES)
    )
    return and_(col(Order.status).in_(TO_SHIP_ORDER_STATUSES), col(Order.id).in_(manual))


def refund_pending() -> ColumnElement[bool]:
    pending = select(Refund.order_id).where(col(Refund.status) == RefundStatus.pending)
    return col(Order.id).in_(pending)


def filtered(stmt: Any, f: OrderFilter) -> Any:
    if f.status:
        stmt = stmt.where(Order.status == f.status)
    if f.needs == "shipping":
        stmt = stmt.where(to_ship())
    elif f.needs == "refund":
        stmt = stmt.where(refund_pending())
    if f.placed_from is not None:
        stmt = stmt.where(col(Order.created_at) >= f.placed_from)
    if f.placed_before is not None:
        stmt = stmt.where(col(Order.created_at) < f.placed_before)
    query = f.query.strip()
    if query:
        like = f"%{query.lower()}%"
        stmt = stmt.where(or_(func.lower(Order.number).like(like), func.lower(Order.email).like(like)))
    return stmt


def search(
    session: Session, *, filters: OrderFilter, page: int, page_size: int = PAGE_SIZE
) -> tuple[Sequence[Order], bool]:
    """Newest first; (orders on this page, whether there is a next page)."""
    stmt = filtered(select(Order), filters).order_by(col(Order.created_at).desc(), col(Order.id).desc())
    rows = session.exec(stmt.offset((page - 1) * page_size).limit(page_size + 1)).all()
    return rows[:page_size], len(rows) > page_size


def export_batch(session: Session, filters: OrderFilter, *, after_id: int, limit: int) -> Sequence[Order]:
    """The next `limit` orders matching `filters` with id > after_id, oldest first (keyset paging)."""
    stmt = filtered(select(Order), filters).where(col(Order.id) > after_id)
    return session.exec(stmt.order_by(col(Order.id)).limit(limit)).all()


def lines_for(session: Session, order_ids: Sequence[int]) -> dict[int, list[OrderLine]]:
    found: dict[int, list[OrderLine]] = {i: [] for i in order_ids}
    if order_ids:
        stmt = select(OrderLine).where(col(OrderLine.order_id).in_(order_ids)).order_by(col(OrderLine.id))
        for line in session.exec(stmt).all():
            found[line.order_id].append(line)
    return found
