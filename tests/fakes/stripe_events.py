"""Signed Stripe events for tests, made exactly as Stripe signs them (t=…,v1=HMAC-SHA256 of "t.body")."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any

from store.config import get_settings


def sign(body: bytes, *, secret: str | None = None, timestamp: int | None = None) -> str:
    secret = secret if secret is not None else get_settings().stripe_webhook_secret
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def intent_event(
    type: str,
    *,
    intent_id: str,
    amount: int,
    order_number: str | None = None,
    event_id: str | None = None,
    error: str | None = None,
) -> bytes:
    intent: dict[str, Any] = {
        "id": intent_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_received": amount if type == "payment_intent.succeeded" else 0,
        "currency": "gbp",
        "status": "succeeded" if type == "payment_intent.succeeded" else "requires_payment_method",
        "metadata": {"order_number": order_number} if order_number else {},
    }
    if error:
        intent["last_payment_error"] = {"code": "card_declined", "message": error}
    event = {
        "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "type": type,
        "created": int(time.time()),
        "data": {"object": intent},
    }
    return json.dumps(event).encode()


def post_event(client: Any, body: bytes, **sign_kwargs: Any) -> Any:
    return client.post(
        "/webhooks/stripe",
        content=body,
        headers={"Stripe-Signature": sign(body, **sign_kwargs), "Content-Type": "application/json"},
    )
