"""Ask the provider about orders it has had for longer than expected, so a lost webhook cannot
strand an order: shipped with tracking, failed or held (to the exception desk), in production."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta

from sqlmodel import col, select

from store.db import unit_of_work
from store.fulfilment import service
from store.fulfilment.models import Fulfilment, FulfilmentStatus
from store.fulfilment.providers import ProviderError, ProviderOrder, provider_for
from store.order.models import Order
from store.timeutil import utcnow

log = logging.getLogger("store.fulfilment")
F = FulfilmentStatus
ACTOR = "reconciler"
ASK_ABOUT = (F.submitted, F.in_production)


def reconcile(older_than_minutes: int = 30) -> Iterator[str]:
    """One line per order changed. Each order is asked about and settled in its own transaction."""
    cutoff = utcnow() - timedelta(minutes=older_than_minutes)
    with unit_of_work() as session:
        candidates = session.exec(
            select(Fulfilment.id, Fulfilment.provider, Order.number)
            .join(Order, col(Order.id) == Fulfilment.order_id)
            .where(
                col(Fulfilment.status).in_(ASK_ABOUT),
                col(Fulfilment.updated_at) < cutoff,
                Fulfilment.provider != "manual",  # nobody to ask: staff are the printer
            )
            .order_by(col(Fulfilment.updated_at))
        ).all()
    for fulfilment_id, provider_name, number in candidates:
        assert fulfilment_id is not None
        try:
            with provider_for(provider_name) as provider:
                answer = provider.find_order(number)
        except ProviderError as exc:
            log.warning("reconcile: provider did not answer", extra={"order": number, "error": exc.reason})
            continue
        line = _apply(fulfilment_id, number, answer)
        if line:
            yield line


def _apply(fulfilment_id: int, number: str, answer: ProviderOrder | None) -> str | None:
    with unit_of_work() as session:
        row = session.get(Fulfilment, fulfilment_id)
        order = session.get(Order, row.order_id) if row is not None else None
        if row is None or order is None:
            return None
        before = row.status
        if answer is None:
            changed = (
                "failed"
                if service.to_exception(
                    session,
                    row,
                    order,
                    status=F.failed,
                    reason="The printer has no record of this order. Retry sends it again.",
                    actor=ACTOR,
                )
                else None
            )
        else:
            changed = service.apply_provider_order(
                session,
                row,
                order,
                provider_status=answer.status,
                shipments=answer.shipments,
                reason=_reason(answer),
                actor=ACTOR,
                source="Reconciler",
            )
        if not changed:
            # Checked and nothing new: touch it so the next run asks about others first.
            row.updated_at = utcnow()
            session.add(row)
            service.record_attempt(
                session,
                row,
                action="check",
                outcome="no_change",
                detail=f"Printer says {answer.status if answer else 'nothing'}.",
                actor=ACTOR,
            )
            return None
        service.record_attempt(
            session,
            row,
            action="check",
            outcome=changed,
            detail=f"Printer says {answer.status if answer else 'nothing'}.",
            actor=ACTOR,
        )
        extra = ""
        if changed == F.shipped:
            shipped = [s for s in (answer.shipments if answer else []) if s.tracking_number]
            if shipped:
                extra = f" ({shipped[-1].carrier} {shipped[-1].tracking_number})"
        return f"{number}: fulfilment {before} -> {row.status}, order {order.status}{extra}"


def _reason(answer: ProviderOrder) -> str | None:
    raw = answer.raw or {}
    for key in ("reason", "error", "notes"):
        value = raw.get(key)
        if isinstance(value, str) and value:
            return value
    return None
