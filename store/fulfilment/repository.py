"""Fulfilment queries: no rules, no commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, col, select

from store.fulfilment.models import Fulfilment, FulfilmentAttempt, FulfilmentStatus, Shipment
from store.order.models import Order

F = FulfilmentStatus
DESK_STATUSES = (F.failed, F.on_hold, F.needs_approval)


def desk_rows(session: Session, *, now: datetime, stuck_before: datetime) -> list[tuple[Fulfilment, Order]]:
    """Everything staff must act on: failed, on hold, needing approval, or stuck before the provider."""
    stuck = ((col(Fulfilment.status) == F.pending) & (col(Fulfilment.updated_at) < stuck_before)) | (
        (col(Fulfilment.status) == F.submitting) & (col(Fulfilment.lease_until) < now)
    )
    rows = session.exec(
        select(Fulfilment, Order)
        .join(Order, col(Order.id) == Fulfilment.order_id)
        .where(col(Fulfilment.status).in_(DESK_STATUSES) | stuck)
        .order_by(col(Fulfilment.updated_at))
    ).all()
    return [(f, o) for f, o in rows]


def attempts_for(session: Session, fulfilment_id: int) -> Sequence[FulfilmentAttempt]:
    return session.exec(
        select(FulfilmentAttempt)
        .where(FulfilmentAttempt.fulfilment_id == fulfilment_id)
        .order_by(col(FulfilmentAttempt.created_at).desc(), col(FulfilmentAttempt.id).desc())
    ).all()


def shipments_for_order(session: Session, order_id: int) -> Sequence[Shipment]:
    """The parcels of an order, oldest first (for the shopper's order page and the API)."""
    return session.exec(
        select(Shipment)
        .where(Shipment.order_id == order_id)
        .order_by(col(Shipment.shipped_at), col(Shipment.id))
    ).all()


def fulfilment_for_number(session: Session, number: str) -> tuple[Fulfilment, Order] | None:
    row = session.exec(
        select(Fulfilment, Order)
        .join(Order, col(Order.id) == Fulfilment.order_id)
        .where(Order.number == number)
    ).first()
    return (row[0], row[1]) if row is not None else None
