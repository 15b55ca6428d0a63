"""Donations through the real webhook pipeline: POST /webhooks/stripe → stored once → processed."""

from __future__ import annotations

import json
import time

import pytest
from sqlmodel import select

from store.donation.models import Donation, DonationPayment
from tests.fakes.stripe_events import post_event

# The app talks to this module's localstripe in every test.
pytestmark = pytest.mark.usefixtures("stripe_env")


def rows(db, model):  # type: ignore[no-untyped-def]
    db.rollback()
    return list(db.exec(select(model).order_by(model.id)).all())


def event(type_: str, obj: dict, event_id: str) -> bytes:  # type: ignore[type-arg]
    return json.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": type_,
            "created": int(time.time()),
            "data": {"object": obj},
        }
    ).encode()


def test_a_lost_page_answer_is_made_good_by_the_webhook_once(client, db):
    # given a one-off donation whose page never heard back (still processing)
    db.add(
        Donation(
            reference="r" * 32,
            kind="one_off",
            status="processing",
            amount=500,
            email="d@example.org",
            full_name="D",
            intent_id="pi_lost",
            idempotency_key="donation-" + "r" * 32 + "-1",
        )
    )
    db.commit()
    body = event(
        "payment_intent.succeeded",
        {"id": "pi_lost", "amount": 500, "metadata": {"kind": "donation", "donation": "r" * 32}},
        "evt_don_1",
    )

    first = post_event(client, body)
    second = post_event(client, body)

    assert (first.status_code, second.status_code) == (200, 200)
    [donation] = rows(db, Donation)
    assert (donation.status, donation.succeeded_at is not None) == ("succeeded", True)
    assert [(p.external_id, p.amount) for p in rows(db, DonationPayment)] == [("pi_lost", 500)]


def test_monthly_renewals_and_cancellation_arrive_by_webhook(client, db):
    db.add(
        Donation(
            reference="m" * 32,
            kind="monthly",
            status="active",
            amount=1000,
            email="m@example.org",
            full_name="M",
            subscription_id="sub_123",
        )
    )
    db.commit()
    renewal = {"id": "in_2", "subscription": "sub_123", "amount_paid": 1000, "created": 1_790_000_000}

    post_event(client, event("invoice.payment_succeeded", renewal, "evt_inv_2"))
    post_event(client, event("invoice.paid", renewal, "evt_inv_2b"))  # Stripe sends both for one invoice
    post_event(
        client, event("customer.subscription.deleted", {"id": "sub_123", "status": "canceled"}, "evt_sub_del")
    )

    assert [(p.external_id, p.amount) for p in rows(db, DonationPayment)] == [("sub_123:2026-09-21", 1000)]
    assert rows(db, Donation)[0].status == "cancelled"
