"""POST /webhooks/stripe: verify the signature on the raw body, store the event once, answer 200 at once."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from store.db import on_commit
from store.deps import Db
from store.metrics import count_webhook
from store.payment import WebhookSignatureInvalid, verify_webhook
from store.web import RawBody
from store.webhook.service import store_inbound

log = logging.getLogger("store.webhook")
router = APIRouter()


@router.post("/webhooks/stripe", name="webhook.stripe")
def stripe_webhook(request: Request, db: Db, payload: RawBody) -> Response:
    try:
        event = verify_webhook(payload, request.headers.get("stripe-signature"))
    except WebhookSignatureInvalid as exc:
        log.warning("stripe webhook refused", extra={"reason": str(exc)[:200]})
        count_webhook("stripe", "rejected")
        return JSONResponse({"detail": "Invalid signature"}, status_code=400)
    event_id, event_type = event.get("id"), event.get("type")
    if not isinstance(event_id, str) or not isinstance(event_type, str):
        return JSONResponse({"detail": "Not a Stripe event"}, status_code=400)
    row = store_inbound(db, source="stripe", external_id=event_id, type=event_type, payload=event)
    if row is None:
        return JSONResponse({"received": True, "duplicate": True})
    row_id = row.id
    assert row_id is not None
    from store.webhook.tasks import process_inbound_event

    on_commit(db, lambda: process_inbound_event(row_id))
    log.info("stripe webhook stored", extra={"external_id": event_id, "type": event_type})
    return JSONResponse({"received": True})
