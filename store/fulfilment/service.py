"""Fulfilment rules. create_for_order is called by order.service.mark_paid in the SAME transaction:
the row is the outbox; a job submits it to the provider after commit; a sweep finds any it missed."""

from __future__ import annotations

from sqlmodel import Session, select

from store.config import get_settings
from store.fulfilment.models import Fulfilment
from store.order.models import Order


def create_for_order(session: Session, *, order: Order) -> Fulfilment:
    assert order.id is not None
    existing = session.exec(select(Fulfilment).where(Fulfilment.order_id == order.id)).first()
    if existing is not None:
        return existing
    row = Fulfilment(order_id=order.id, provider=get_settings().fulfilment)
    session.add(row)
    session.flush()
    # The fulfilment issue adds: on_commit(session, lambda: submit_fulfilment(row.id))
    return row
