"""Two submits of one donation form at once (double click, two tabs) on PostgreSQL: one attempt wins,
the other is told to wait, and only one idempotency key is ever handed to Stripe. Same for sign-ups."""

from __future__ import annotations

import threading
import time

import pytest
from sqlmodel import select

from store.db import unit_of_work
from store.donation import payments, service
from store.donation.models import Donation
from store.errors import Conflict
from store.newsletter import service as newsletter
from store.newsletter.models import Subscriber

pytestmark = pytest.mark.postgres


def _form() -> service.DonationForm:
    return service.DonationForm(
        frequency="one_off", amount="5", email="race@example.org", full_name="Race Donor", reference="R" * 32
    )


def test_two_simultaneous_attempts_on_one_donation_only_one_goes_to_stripe(db):
    # given a donation whose first card was declined (the row exists: only the row lock can protect it)
    db.add(
        Donation(
            reference="R" * 32,
            kind="one_off",
            status="failed",
            amount=500,
            email="race@example.org",
            full_name="Race Donor",
            attempts=1,
            idempotency_key=f"donation-{'R' * 32}-1",
        )
    )
    db.commit()
    outcomes: list[str] = []
    keys: list[str] = []
    start = threading.Barrier(2)

    def submit(hold: float) -> None:
        form = _form()
        amount = form.validate()
        start.wait()
        try:
            with unit_of_work() as session:
                attempt = payments.begin_attempt(session, form=form, amount=amount, payment_method="pm_race")
                time.sleep(hold)  # keep the row locked a moment: the other submit must wait, then see it
            keys.append(attempt.idempotency_key)
            outcomes.append("attempt")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=submit, args=(0.3,)), threading.Thread(target=submit, args=(0.0,))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)

    assert sorted(outcomes) == ["attempt", "conflict"]
    assert keys == [f"donation-{'R' * 32}-2"]
    db.rollback()
    [donation] = db.exec(select(Donation)).all()
    assert (donation.status, donation.attempts) == ("processing", 2)


def test_two_simultaneous_first_submits_make_one_donation_and_one_attempt(db):
    outcomes: list[str] = []
    start = threading.Barrier(2)

    def submit(hold: float) -> None:
        form = _form()
        amount = form.validate()
        start.wait()
        try:
            with unit_of_work() as session:
                payments.begin_attempt(session, form=form, amount=amount, payment_method="pm_race")
                time.sleep(hold)
            outcomes.append("attempt")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=submit, args=(0.3,)), threading.Thread(target=submit, args=(0.0,))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)

    assert sorted(outcomes) == ["attempt", "conflict"]
    db.rollback()
    assert [(d.status, d.attempts) for d in db.exec(select(Donation)).all()] == [("processing", 1)]


def test_two_simultaneous_sign_ups_of_one_new_address_make_one_row(db):
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def sign_up(ip: str) -> None:
        start.wait()
        try:
            with unit_of_work() as session:
                newsletter.subscribe(session, email="twice@example.org", source="newsletter-page", ip=ip)
        except BaseException as exc:  # noqa: BLE001 - surfaced by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=sign_up, args=(f"10.0.0.{n}",)) for n in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)

    assert errors == []
    db.rollback()
    assert [s.email for s in db.exec(select(Subscriber)).all()] == ["twice@example.org"]
