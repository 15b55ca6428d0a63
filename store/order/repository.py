"""Order queries: no rules, no commits."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from store.order.models import Order, OrderEvent, OrderLine, Payment, Refund

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


def search(
    session: Session, *, status: str | None, query: str, page: int, page_size: int = PAGE_SIZE
) -> tuple[Sequence[Order], bool]:
    """Newest first; (orders on this page, whether there is a next page)."""
    stmt = select(Order)
    if status:
        stmt = stmt.where(Order.status == status)
    query = query.strip()
    if query:
        like = f"%{query.lower()}%"
        stmt = stmt.where(or_(func.lower(Order.number).like(like), func.lower(Order.email).like(like)))
    stmt = stmt.order_by(col(Order.created_at).desc(), col(Order.id).desc())
    rows = session.exec(stmt.offset((page - 1) * page_size).limit(page_size + 1)).all()
    return rows[:page_size], len(rows) > page_size
