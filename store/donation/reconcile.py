"""`storefront reconcile`: finish donations an interrupted request left 'processing'.

The attempt's idempotency key and card were committed before Stripe was called, so asking again with
the same key replays Stripe's first answer (never a second charge) and records it through the same
path as the page and the webhook. Attempts waiting for 3-D Secure are left to the donor.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta

from store import payment
from store.db import unit_of_work
from store.donation import payments, repository
from store.donation.models import DonationStatus
from store.timeutil import utcnow

log = logging.getLogger("store.donation")


def reconcile(*, older_than_minutes: int = 30) -> Iterator[str]:
    cutoff = utcnow() - timedelta(minutes=older_than_minutes)
    with unit_of_work() as session:
        stale = [
            d
            for d in repository.stale_in_flight(session, cutoff)
            if d.status == DonationStatus.processing and d.idempotency_key and d.payment_method
        ]
    for donation in stale:
        attempt = payments.attempt_for(donation, replay=True)
        try:
            result = payments.charge(attempt)
        except payment.PaymentError:
            log.warning(
                "reconcile could not ask Stripe about a donation", extra={"donation": donation.reference}
            )
            continue
        with unit_of_work() as session:
            outcome = payments.record_result(session, reference=donation.reference, result=result)
        yield f"donation {donation.reference[:12]}: processing -> {outcome.status}"
