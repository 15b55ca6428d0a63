"""Fulfilment rules. Services never commit: the request or job that calls them owns the transaction.

create_for_order is called by order.service.mark_paid in the SAME transaction: the row is the outbox;
a job submits it to the provider after commit (store.fulfilment.submission); a sweep finds any it
missed. Every status change of a fulfilment is a conditional UPDATE allowed by FULFILMENT_MOVES
(store.fulfilment.models), so a stale or duplicated event never moves anything back. Claims on a row
while someone talks to the provider are store.fulfilment.lease; the calls themselves are
submission.py (workers) and actions.py (staff), never in here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from store.config import get_settings
from store.db import on_commit
from store.errors import DomainError
from store.fulfilment.models import (
    EXCEPTIONS,
    Fulfilment,
    FulfilmentAttempt,
    FulfilmentStatus,
    Shipment,
    can_move,
)
from store.fulfilment.providers import ProviderItem, ProviderOrderRequest, Recipient
from store.mail.service import queue_email, render_email
from store.order.models import Order, OrderLine, OrderStatus
from store.order.service import move
from store.timeutil import utcnow

log = logging.getLogger("store.fulfilment")

F = FulfilmentStatus

MAX_SUBMIT_ATTEMPTS = 5  # claims of one row before it goes to the exception desk
BACKOFF_BASE_SECONDS = 60  # 1, 2, 4, 8 minutes between claims …
BACKOFF_MAX_SECONDS = 3600


def stuck_after() -> timedelta:
    """A pending row untouched this long lost its job: the sweep resubmits it; the desk shows it."""
    return timedelta(seconds=get_settings().fulfilment_stuck_seconds)


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0), BACKOFF_MAX_SECONDS))


# -- the outbox ----------------------------------------------------------------------------------------


def create_for_order(session: Session, *, order: Order) -> Fulfilment:
    assert order.id is not None
    existing = session.exec(select(Fulfilment).where(Fulfilment.order_id == order.id)).first()
    if existing is not None:
        return existing
    row = Fulfilment(order_id=order.id, provider=get_settings().fulfilment)
    session.add(row)
    session.flush()
    enqueue_submit(session, row)
    return row


def enqueue_submit(session: Session, row: Fulfilment, *, eta: datetime | None = None) -> None:
    """Push the submit job after commit; if the push is lost, the sweep finds the row."""
    row_id = row.id
    assert row_id is not None

    def push() -> None:
        from store.fulfilment.tasks import submit_fulfilment

        if eta is None:
            submit_fulfilment(row_id)
        else:
            submit_fulfilment.schedule(args=(row_id,), eta=eta)

    on_commit(session, push)


def for_order(session: Session, order: Order) -> Fulfilment | None:
    return session.exec(select(Fulfilment).where(Fulfilment.order_id == order.id)).first()


def record_attempt(
    session: Session, row: Fulfilment, *, action: str, outcome: str, detail: str = "", actor: str = "system"
) -> None:
    assert row.id is not None
    session.add(
        FulfilmentAttempt(
            fulfilment_id=row.id, action=action[:40], outcome=outcome[:40], detail=detail[:2000], actor=actor
        )
    )


class Address(Protocol):
    """The delivery fields an order and the checkout form share."""

    full_name: str
    address_line1: str
    address_line2: str
    town: str
    postcode: str
    country: str
    email: str


def recipient_for(address: Address) -> Recipient:
    """Who and where the provider delivers to (an order, or the checkout form before there is one)."""
    return Recipient(
        name=address.full_name,
        address1=address.address_line1,
        address2=address.address_line2 or None,
        city=address.town,
        country_code=address.country,
        zip=address.postcode,
        email=address.email,
    )


def build_request(session: Session, order: Order) -> ProviderOrderRequest:
    """What the provider is asked to print: the frozen order lines, never the live catalogue."""
    lines = session.exec(
        select(OrderLine)
        .where(OrderLine.order_id == order.id, OrderLine.kind == "product")
        .order_by(col(OrderLine.id))
    ).all()
    items = [
        ProviderItem(
            variant_id=line.provider_variant_id,
            sku=line.sku,
            quantity=line.quantity,
            retail_price=order.money(line.unit_price),
            files=[line.print_file_url] if line.print_file_url else [],
            name=line.product_title,
        )
        for line in lines
    ]
    return ProviderOrderRequest(
        external_id=order.number,
        recipient=recipient_for(order),
        items=items,
        retail_costs={
            "subtotal": order.money(order.subtotal),
            "discount": order.money(order.discount_amount),
            "shipping": order.money(order.shipping_amount),
            "tax": order.money(order.vat_amount),
            "total": order.money(order.total),
        },
    )


# -- status changes ----------------------------------------------------------------------------------------


def set_status(session: Session, row: Fulfilment, to: str, **values: Any) -> bool:
    """Move the fulfilment if allowed from its CURRENT status in the database (conditional UPDATE)."""
    session.flush()
    current = session.exec(select(Fulfilment.status).where(Fulfilment.id == row.id)).one()
    if not can_move(current, to):
        return False
    values.setdefault("updated_at", utcnow())
    result = session.execute(
        update(Fulfilment)
        .where(col(Fulfilment.id) == row.id, col(Fulfilment.status) == current)
        .values(status=to, **values)
    )
    session.refresh(row)
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    log.info("fulfilment moved", extra={"fulfilment": row.id, "from": current, "to": to})
    return True


_ORDER_FOR: dict[str, OrderStatus] = {
    F.submitted: OrderStatus.submitted,
    F.in_production: OrderStatus.in_production,
    F.shipped: OrderStatus.shipped,
    F.delivered: OrderStatus.delivered,
}


def follow(session: Session, order: Order, to: str, *, actor: str, message: str) -> None:
    """Move the order along with its fulfilment (the order's own table decides what is allowed)."""
    if to in _ORDER_FOR:
        target = _ORDER_FOR[to]
        if target == OrderStatus.in_production:
            # submitted comes first so the timeline reads in order
            move(session, order, OrderStatus.submitted, actor=actor, message="Accepted by the printer.")
        move(session, order, target, actor=actor, message=message)
    elif (to in EXCEPTIONS or to == F.cancelled) and order.status not in (
        OrderStatus.cancelled,
        OrderStatus.refunded,
    ):
        move(session, order, OrderStatus.on_hold, actor=actor, message=message)


def to_exception(
    session: Session,
    row: Fulfilment,
    order: Order,
    *,
    status: str,
    reason: str,
    actor: str,
    notify: bool = True,
) -> bool:
    """Put the fulfilment where staff will see it, with the reason, and hold the order."""
    if not set_status(session, row, status, reason=reason[:2000], lease_until=None, next_attempt_at=None):
        return False
    follow(session, order, status, actor=actor, message=f"Fulfilment {status.replace('_', ' ')}: {reason}")
    if notify and order.status == OrderStatus.on_hold:
        queue_delay_email(session, order)
    return True


def advance(session: Session, row: Fulfilment, order: Order, *, to: str, actor: str, message: str) -> bool:
    if not set_status(session, row, to, reason="", lease_until=None, next_attempt_at=None):
        return False
    follow(session, order, to, actor=actor, message=message)
    return True


# -- what the provider tells us (submit answers, webhooks, the reconciler) ---------------------------------

# Printful's order status -> ours.
PROVIDER_STATUS = {
    "draft": F.needs_approval,
    "pending": F.submitted,
    "inprocess": F.in_production,
    "partial": F.in_production,
    "fulfilled": F.shipped,
    "failed": F.failed,
    "onhold": F.on_hold,
    "canceled": F.cancelled,
}


def record_shipment(
    session: Session,
    row: Fulfilment,
    order: Order,
    *,
    carrier: str,
    tracking_number: str,
    tracking_url: str = "",
    service: str = "",
    actor: str,
) -> bool:
    """One Shipment per (order, tracking number); the order ships and the shopper gets ONE email."""
    assert order.id is not None
    tracking_number = tracking_number.strip()
    exists = session.exec(
        select(Shipment.id).where(Shipment.order_id == order.id, Shipment.tracking_number == tracking_number)
    ).first()
    new = exists is None
    if new:
        try:
            with session.begin_nested():
                session.add(
                    Shipment(
                        order_id=order.id,
                        carrier=carrier[:80],
                        service=service[:80],
                        tracking_number=tracking_number[:120],
                        tracking_url=tracking_url[:500],
                    )
                )
        except IntegrityError:  # the same parcel recorded a moment ago by another worker
            new = False
    if new:
        record_attempt(
            session, row, action="shipment", outcome="ok", detail=f"{carrier} {tracking_number}", actor=actor
        )
    if set_status(session, row, F.shipped, reason="", lease_until=None, next_attempt_at=None):
        follow(
            session,
            order,
            F.shipped,
            actor=actor,
            message=f"Shipped with {carrier}, tracking {tracking_number}.",
        )
    if new and order.status in (OrderStatus.shipped, OrderStatus.delivered):
        queue_shipment_email(
            session, order, carrier=carrier, tracking_number=tracking_number, tracking_url=tracking_url
        )
    return new


def apply_provider_order(
    session: Session,
    row: Fulfilment,
    order: Order,
    *,
    provider_status: str,
    shipments: Iterable[Any] = (),
    reason: str | None = None,
    actor: str,
    source: str,
) -> str | None:
    """Apply the provider's view of an order. Returns our new status, or None if nothing changed."""
    changed: str | None = None
    for shipment in shipments:
        if getattr(shipment, "tracking_number", None) and record_shipment(
            session,
            row,
            order,
            carrier=shipment.carrier or "",
            tracking_number=shipment.tracking_number,
            tracking_url=shipment.tracking_url or "",
            service=shipment.service or "",
            actor=actor,
        ):
            changed = F.shipped
    target = PROVIDER_STATUS.get(provider_status)
    if target is None or target == F.shipped:  # shipped only with a parcel to show the shopper
        return changed
    if target in EXCEPTIONS or target == F.cancelled:
        words = (
            reason
            or {
                F.failed: "The printer reported the order as failed.",
                F.on_hold: "The printer put the order on hold.",
                F.needs_approval: "The printer is waiting for us to approve the order.",
                F.cancelled: "The printer cancelled the order.",
            }[target]
        )
        if to_exception(session, row, order, status=target, reason=words, actor=actor):
            changed = target
    elif advance(
        session, row, order, to=target, actor=actor, message=f"{source}: printer says {provider_status}."
    ):
        changed = target
    if changed and provider_status:
        row.provider_status = provider_status[:20]
        session.add(row)
    return changed


# -- emails ------------------------------------------------------------------------------------------------


def _order_link(order: Order) -> str:
    return f"{get_settings().base_url.rstrip('/')}/orders/{order.token}"


def queue_shipment_email(
    session: Session, order: Order, *, carrier: str, tracking_number: str, tracking_url: str
) -> bool:
    text, html = render_email(
        "shipment_shipped",
        order=order,
        carrier=carrier_name(carrier),
        tracking_number=tracking_number,
        tracking_url=tracking_url,
        order_url=_order_link(order),
    )
    return queue_email(
        session,
        key=f"shipment-{order.number}-{tracking_number}",
        to=order.email,
        subject=f"Your order {order.number} is on its way",
        text=text,
        html=html,
    )


def queue_delay_email(session: Session, order: Order) -> bool:
    text, html = render_email("fulfilment_delayed", order=order, order_url=_order_link(order))
    return queue_email(
        session,
        key=f"fulfilment-delay-{order.number}",
        to=order.email,
        subject=f"A problem is delaying your order {order.number}",
        text=text,
        html=html,
    )


def carrier_name(code: str) -> str:
    """ROYAL_MAIL -> Royal Mail; names already readable stay as they are."""
    if code.isupper() or "_" in code:
        return (
            code.replace("_", " ").title().replace("Dhl", "DHL").replace("Ups", "UPS").replace("Dpd", "DPD")
        )
    return code


# -- staff actions -----------------------------------------------------------------------------------------


def retry(session: Session, *, order: Order, actor: str) -> Fulfilment:
    """Send an order on the exception desk back to the provider through the same exactly-once path."""
    row = for_order(session, order)
    if row is None:
        raise DomainError("This order has nothing to send to the printer.")
    now = utcnow()
    stuck = row.status == F.pending or (
        row.status == F.submitting and row.lease_until is not None and aware(row.lease_until) < now
    )
    if row.status not in EXCEPTIONS and not stuck:
        raise DomainError(
            f"Only failed, held or stuck orders can be retried; this one is {row.status.replace('_', ' ')}."
        )
    if order.status in (OrderStatus.cancelled, OrderStatus.refunded):
        raise DomainError(f"This order is {order.status}, so it will not be printed.")
    result = session.execute(
        update(Fulfilment)
        .where(col(Fulfilment.id) == row.id, col(Fulfilment.status) == row.status)
        .values(status=F.pending, attempts=0, next_attempt_at=None, lease_until=None, updated_at=now)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise DomainError("This order changed while you were looking; please try again.")
    session.refresh(row)
    record_attempt(
        session, row, action="retry", outcome="queued", detail="Sent back to the printer.", actor=actor
    )
    enqueue_submit(session, row)
    return row


def mark_shipped_manually(
    session: Session, *, order: Order, carrier: str, tracking_number: str, actor: str
) -> Fulfilment:
    """Manual fulfilment: staff printed and posted it themselves."""
    errors = {}
    if not carrier.strip():
        errors["carrier"] = "Enter the carrier, for example Royal Mail."
    if not tracking_number.strip():
        errors["tracking_number"] = "Enter the tracking number."
    if errors:
        field, message = next(iter(errors.items()))
        raise DomainError(message, field=field)
    row = for_order(session, order)
    if row is None or row.provider != "manual":
        raise DomainError("Only orders fulfilled by hand can be marked as shipped here.")
    if row.status in (F.cancelled,) or order.status not in (
        OrderStatus.paid,
        OrderStatus.submitted,
        OrderStatus.in_production,
        OrderStatus.on_hold,
        OrderStatus.shipped,
    ):
        raise DomainError(
            f"This order is {order.status.replace('_', ' ')}, so it can't be marked as shipped."
        )
    record_shipment(
        session, row, order, carrier=carrier.strip(), tracking_number=tracking_number.strip(), actor=actor
    )
    return row


def lease_live(row: Fulfilment, now: datetime) -> bool:
    """Someone holds the row right now (a worker submitting, or a staff action at the provider)."""
    return row.status == F.submitting and row.lease_until is not None and aware(row.lease_until) >= now


def is_stuck(row: Fulfilment, now: datetime) -> bool:
    """Paid but not with the provider, and nobody working on it: the desk shows it as stuck."""
    if row.status == F.pending:
        return aware(row.updated_at) < now - stuck_after()
    if row.status == F.submitting:
        return row.lease_until is None or aware(row.lease_until) < now
    return False


def aware(value: datetime) -> datetime:
    from datetime import UTC

    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
