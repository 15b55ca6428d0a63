"""What Stripe's events mean for donations. Found by store.webhook through the registry; every handler
goes through service.handle_stripe_event (idempotent: a redelivered event changes nothing)."""

from __future__ import annotations

from sqlmodel import Session

from store.donation import service
from store.webhook.models import InboundEvent
from store.webhook.service import handles

DONATION_EVENTS = (
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "invoice.payment_succeeded",
    "invoice.paid",
    "customer.subscription.updated",
    "customer.subscription.deleted",
)


def on_stripe_event(session: Session, event: InboundEvent) -> None:
    service.handle_stripe_event(session, event.payload)


for _type in DONATION_EVENTS:
    handles("stripe", _type)(on_stripe_event)
