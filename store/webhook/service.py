"""Store each verified webhook once, and process stored events through the handlers domains register.

Domains react to events in their own `<domain>/webhooks.py`, found through store.registry:

    from store.webhook.service import handles

    @handles("stripe", "payment_intent.succeeded")
    def paid(session: Session, event: InboundEvent) -> None: ...

A handler runs inside the job's transaction, in a savepoint (store.webhook.tasks.process_now); it
must be idempotent and move statuses forward only, and do no outside call (queue a job after commit
with store.db.on_commit instead). Raising rolls back the savepoint, with the handler's writes and the
after-commit actions it registered, and marks the event failed with the error; the sweep retries it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from sqlmodel import Session

from store.db import insert_unless_present, on_commit
from store.metrics import count_webhook
from store.webhook.models import InboundEvent

log = logging.getLogger("store.webhook")

Handler = Callable[[Session, InboundEvent], None]
_HANDLERS: dict[tuple[str, str], list[Handler]] = {}
_loaded = False


def handles(source: str, type: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        found = _HANDLERS.setdefault((source, type), [])
        if fn not in found:
            found.append(fn)
        return fn

    return register


def handlers_for(source: str, type: str) -> list[Handler]:
    global _loaded
    if not _loaded:
        from store.registry import domain_modules

        domain_modules("webhooks")  # importing them registers their handlers
        _loaded = True
    return list(_HANDLERS.get((source, type), []))


def handled_types(source: str) -> list[str]:
    """Every event type some domain handles for `source`: what the webhook subscriptions must include."""
    handlers_for(source, "")  # loads every domain's handlers
    return sorted(kind for (src, kind) in _HANDLERS if src == source)


def store_inbound(
    session: Session, *, source: str, external_id: str, type: str, payload: dict[str, Any]
) -> int | None:
    """Insert the event unless (source, external_id) is already stored: INSERT … ON CONFLICT DO NOTHING.

    Returns the new row's id, or None for a duplicate (answer 200 and do nothing more). Safe when the
    same event arrives many times at once: the unique index lets exactly one insert through. (Only the
    id: reading the row back cost as much again, under the write lock, at 100 webhooks a second.)
    """
    values = {"source": source, "external_id": external_id[:128], "type": type[:80], "payload": payload}
    stmt = insert_unless_present(session, InboundEvent, unique=["source", "external_id"], values=values)
    new_id = session.execute(stmt.returning(InboundEvent.id)).scalar_one_or_none()  # type: ignore[attr-defined]
    if new_id is None:
        log.info("duplicate webhook ignored", extra={"source": source, "external_id": external_id})
        count_webhook(source, "duplicate")
        return None
    count_webhook(source, "accepted")
    return int(new_id)


def event_object(event: InboundEvent) -> dict[str, Any]:
    """A Stripe event's data.object (an empty dict when absent)."""
    data = event.payload.get("data") or {}
    obj = data.get("object") if isinstance(data, dict) else None
    return obj if isinstance(obj, dict) else {}


@dataclass(frozen=True)
class Received:
    """What a webhook request gets: refused (bad signature or body), a duplicate, or stored."""

    status: Literal["bad_signature", "bad_body", "duplicate", "stored"]
    detail: str = ""


def accept(
    session: Session, *, source: str, external_id: str, type: str, payload: dict[str, Any]
) -> Received:
    """Store a verified event once; a job processes it after commit (a sweep picks up a lost push)."""
    event_id = store_inbound(session, source=source, external_id=external_id, type=type, payload=payload)
    if event_id is None:
        return Received("duplicate")
    from store.webhook.tasks import process_inbound_event

    on_commit(session, lambda: process_inbound_event(event_id))
    return Received("stored")


def receive_stripe(session: Session, payload: bytes, signature: str | None) -> Received:
    """POST /webhooks/stripe: verify the signature on the raw body, then store the event once."""
    from store.payment import WebhookSignatureInvalid, verify_webhook

    try:
        event = verify_webhook(payload, signature)
    except WebhookSignatureInvalid as exc:
        log.warning("stripe webhook refused", extra={"reason": str(exc)[:200]})
        count_webhook("stripe", "rejected")
        return Received("bad_signature", "Invalid signature")
    event_id, event_type = event.get("id"), event.get("type")
    if not isinstance(event_id, str) or not isinstance(event_type, str):
        return Received("bad_body", "Not a Stripe event")
    received = accept(session, source="stripe", external_id=event_id, type=event_type, payload=event)
    if received.status == "stored":
        log.info("stripe webhook stored", extra={"external_id": event_id, "type": event_type})
    return received
