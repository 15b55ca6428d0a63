"""Provider webhooks: verified and stored in the request (store.fulfilment.routes); store.webhook's job
runs the handlers registered here, in its transaction, once per stored event.

Printful sends no event id and no signed timestamp, so the stored event's key is the SHA-256 of the
raw body (a redelivery is byte-identical) and every change only moves forward: a stale or repeated
event finds nothing left to do.
"""

from __future__ import annotations

import hashlib
import json
import logging

from sqlmodel import Session, select

from store.config import get_settings
from store.fulfilment import service
from store.fulfilment.models import Fulfilment, FulfilmentStatus
from store.fulfilment.providers import Shipment as ProviderShipment
from store.fulfilment.providers.printful import PrintfulEvent, parse_webhook, verify_webhook_signature
from store.metrics import count_webhook
from store.order.models import Order
from store.webhook.models import InboundEvent
from store.webhook.service import Received, accept, handles

log = logging.getLogger("store.fulfilment")
F = FulfilmentStatus
ACTOR = "printful"

# Event type -> the provider status it implies (order_updated carries its own).
EVENT_STATUS = {
    "order_failed": "failed",
    "order_put_hold": "onhold",
    "order_put_hold_approval": "draft",  # waits for our approval: same desk action as a draft
    "order_canceled": "canceled",
    "order_remove_hold": "pending",
}
HANDLED = frozenset({"package_shipped", "order_updated", *EVENT_STATUS})


def receive(session: Session, raw: bytes, signature: str | None) -> Received:
    """POST /webhooks/printful: verify the HMAC of the raw body, then store the event once (keyed by
    the body's hash: Printful sends no event id)."""
    if not verify_webhook_signature(raw, signature, get_settings().printful_webhook_secret):
        log.warning("printful webhook with a bad signature", extra={"bytes": len(raw)})
        count_webhook("printful", "rejected")
        return Received("bad_signature", "Invalid signature.")
    try:
        event = parse_webhook(raw)
    except ValueError:
        return Received("bad_body", "The body is not a JSON object.")
    return accept(
        session,
        source="printful",
        external_id=hashlib.sha256(raw).hexdigest(),
        type=event.type[:80] or "unknown",
        payload=event.raw,
    )


def handle_printful(session: Session, event: InboundEvent) -> None:
    """Registered with store.webhook for every Printful event we act on (others are stored, ignored)."""
    outcome = _apply(session, event)
    log.info("printful event applied", extra={"event": event.id, "type": event.type, "outcome": outcome})


for _type in sorted(HANDLED):
    handles("printful", _type)(handle_printful)


def _apply(session: Session, event: InboundEvent) -> str:
    parsed: PrintfulEvent = parse_webhook(json.dumps(event.payload).encode())
    if parsed.type not in HANDLED:
        return "ignored"
    if not parsed.external_id:
        return "no-order"
    order = session.exec(select(Order).where(Order.number == parsed.external_id)).first()
    row = (
        session.exec(select(Fulfilment).where(Fulfilment.order_id == order.id)).first()
        if order is not None
        else None
    )
    if order is None or row is None:
        log.warning("printful event about an unknown order", extra={"external_id": parsed.external_id})
        return "unknown-order"
    provider_order_id = (parsed.raw.get("data") or {}).get("order", {}).get("id")
    if provider_order_id and not row.provider_order_id:
        row.provider_order_id = str(provider_order_id)[:64]
        session.add(row)
    before = row.status
    if parsed.type == "package_shipped":
        shipments = [parsed.shipment] if parsed.shipment is not None else []
        changed = service.apply_provider_order(
            session,
            row,
            order,
            provider_status="",
            shipments=_tracked(shipments),
            actor=ACTOR,
            source="Webhook",
        )
    else:
        status = EVENT_STATUS.get(parsed.type) or parsed.order_status or ""
        if parsed.type == "order_remove_hold" and row.status not in (F.on_hold, F.needs_approval):
            status = ""
        changed = service.apply_provider_order(
            session, row, order, provider_status=status, reason=parsed.reason, actor=ACTOR, source="Webhook"
        )
    service.record_attempt(
        session,
        row,
        action=f"webhook:{parsed.type}",
        outcome=changed or "no_change",
        detail=(parsed.reason or "")
        if changed
        else f"Already {before.replace('_', ' ')}; nothing to change.",
        actor=ACTOR,
    )
    return changed or "no_change"


def _tracked(shipments: list[ProviderShipment]) -> list[ProviderShipment]:
    return [s for s in shipments if s.tracking_number]
