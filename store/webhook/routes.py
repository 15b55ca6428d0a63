"""POST /webhooks/stripe: verify the signature on the raw body, store the event once, answer 200 at once."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from store.deps import Db
from store.web import RawBody
from store.webhook.service import receive_stripe

router = APIRouter()


@router.post("/webhooks/stripe", name="webhook.stripe")
def stripe_webhook(request: Request, db: Db, payload: RawBody) -> Response:
    received = receive_stripe(db, payload, request.headers.get("stripe-signature"))
    if received.status in ("bad_signature", "bad_body"):
        return JSONResponse({"detail": received.detail}, status_code=400)
    if received.status == "duplicate":
        return JSONResponse({"received": True, "duplicate": True})
    return JSONResponse({"received": True})
