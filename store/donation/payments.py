"""Donating by card (one-off and monthly) and stopping monthly support, in the shape of
store/order/refunds.py: record the attempt and its idempotency key and COMMIT; ask Stripe outside any
transaction; record the answer in a new short transaction. The flow functions own their transactions
and return a typed `Outcome`; the routes only turn outcomes into JSON or pages.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from store import payment
from store.db import unit_of_work
from store.donation import repository, service
from store.donation.models import Donation, DonationKind, DonationStatus
from store.errors import Conflict, DomainError
from store.money import Money
from store.timeutil import utcnow

log = logging.getLogger("store.donation")

# An attempt still with Stripe (timeouts and the SDK's retries take up to ~45 s). After this, a new
# submit first replays the old attempt with its own key to learn how it ended, then starts afresh.
IN_FLIGHT = timedelta(seconds=90)
UNAVAILABLE = "We couldn't reach the card processor. You have not been charged; please try again in a minute."
GENERIC_ERROR = "Something went wrong and you have not been charged. Please try again."
CARD_NOT_KNOWN = "Your card details didn't come through. Please enter your card again."
AUTH_FAILED = "Your bank could not confirm the payment. Please try again or use another card."

# succeeded / requires_action / failed: what Stripe said (the page shows it); bad_input: the form or a
# payment method Stripe refused (4xx with the field); conflict: an attempt already in flight;
# unavailable / error: Stripe itself (503 / 502).
Status = Literal["succeeded", "requires_action", "failed", "bad_input", "conflict", "unavailable", "error"]


@dataclass(frozen=True)
class Outcome:
    status: Status
    message: str = ""
    client_secret: str | None = field(default=None, repr=False)
    payment_intent: str | None = None
    field: str | None = None
    stripe_refused: bool = False  # bad input that Stripe itself refused (an unknown payment method)


@dataclass(frozen=True)
class SetupOutcome:
    status: Literal["ready", "bad_input", "unavailable"]
    client_secret: str | None = field(default=None, repr=False)
    message: str = ""
    field: str | None = None


# --- the flows (each owns its transactions) ------------------------------------------------------


def setup_card(form: service.DonationForm) -> SetupOutcome:
    """A SetupIntent for the page's confirmCardSetup (off-session for monthly support)."""
    try:
        form.validate()
    except DomainError as exc:
        return SetupOutcome("bad_input", message=exc.message, field=exc.field)
    usage: Literal["on_session", "off_session"] = (
        "off_session" if form.frequency == DonationKind.monthly else "on_session"
    )
    try:
        setup = payment.create_setup_intent(usage=usage)  # monthly: the card is charged again each month
    except payment.PaymentError:
        log.warning("setup intent failed for a donation")
        return SetupOutcome("unavailable", message=UNAVAILABLE)
    return SetupOutcome("ready", client_secret=setup.client_secret)


def donate(
    form: service.DonationForm,
    *,
    payment_method: str = "",
    payment_intent: str = "",
    engine: Engine | None = None,
) -> Outcome:
    """Charge the donation with a pm_… (or, after 3-D Secure, ask Stripe how it ended)."""
    try:
        amount = form.validate()
        if payment_intent:
            return after_authentication(reference=form.reference, intent_id=payment_intent, engine=engine)
        return _charge_attempts(form, amount, payment_method, engine)
    except Conflict as exc:
        return Outcome("conflict", exc.message)
    except DomainError as exc:
        return Outcome("bad_input", exc.message, field=exc.field)
    except payment.PaymentUnavailable:
        log.warning("stripe unavailable for a donation", extra={"donation": form.reference})
        return Outcome("unavailable", UNAVAILABLE)
    except payment.PaymentError:
        log.exception("donation payment error", extra={"donation": form.reference})
        return Outcome("error", GENERIC_ERROR)


def _charge_attempts(
    form: service.DonationForm, amount: Money, payment_method: str, engine: Engine | None
) -> Outcome:
    for _round in range(2):  # at most: replay an interrupted attempt, then a fresh one
        # 1. The attempt and its idempotency key, committed before Stripe hears of it.
        with unit_of_work(engine) as session:
            attempt = begin_attempt(session, form=form, amount=amount, payment_method=payment_method)
        if attempt.done:
            return Outcome("succeeded")
        # 2. Stripe, outside any transaction.
        try:
            result = charge(attempt)
        except payment.PaymentMethodRefused:
            with unit_of_work(engine) as session:
                service.mark_failed(
                    session, service.get(session, form.reference, for_update=True), CARD_NOT_KNOWN
                )
            log.info("payment method unknown to stripe", extra={"donation": form.reference})
            return Outcome("bad_input", CARD_NOT_KNOWN, field="card", stripe_refused=True)
        # 3. The answer, in its own transaction.
        with unit_of_work(engine) as session:
            outcome = record_result(session, reference=form.reference, result=result)
        if not attempt.replay or outcome.status != "failed":
            return outcome
    return outcome


def after_authentication(*, reference: str, intent_id: str, engine: Engine | None = None) -> Outcome:
    """The page finished 3-D Secure: ask Stripe how the attempt stands now and record it."""
    with unit_of_work(engine, write=False) as session:
        donation = service.get(session, reference)
        if donation.status in service.FINISHED:
            return Outcome("succeeded")
        if donation.intent_id != intent_id or donation.status != DonationStatus.requires_action:
            raise DomainError("That payment doesn't belong to this donation.", field="card")
        kind, subscription_id = donation.kind, donation.subscription_id
    result: payment.PaymentResult | payment.SubscriptionResult
    if kind == DonationKind.monthly:
        assert subscription_id is not None
        result = payment.retrieve_monthly_support(subscription_id)
        if result.status in ("failed", "requires_action", "cancelled"):
            payment.cancel_monthly_support(subscription_id)  # leave nothing half-subscribed
            if result.status != "failed":
                result = payment.SubscriptionResult(
                    result.customer_id, result.subscription_id, "failed", None, AUTH_FAILED
                )
    else:
        result = payment.retrieve_payment(intent_id)
        if result.status == "requires_action":
            with unit_of_work(engine) as session:
                message = service.mark_failed(
                    session, service.get(session, reference, for_update=True), AUTH_FAILED
                )
            return Outcome("failed", message)
    with unit_of_work(engine) as session:
        return record_result(session, reference=reference, result=result)


def cancel_monthly(*, reference: str, engine: Engine | None = None) -> Outcome:
    """The donor stops monthly support: Stripe first (outside any transaction), then our row."""
    with unit_of_work(engine, write=False) as session:
        donation = service.get(session, reference)
        if donation.kind != DonationKind.monthly or donation.subscription_id is None:
            return Outcome("bad_input", "This donation isn't monthly support.")
        if donation.status == DonationStatus.cancelled:
            return Outcome("succeeded")
        subscription_id = donation.subscription_id
    try:
        payment.cancel_monthly_support(subscription_id)  # cancelling twice is fine
    except payment.PaymentError:
        log.warning("could not cancel monthly support", extra={"donation": reference})
        return Outcome("unavailable", "We couldn't reach the card processor. Please try again in a minute.")
    with unit_of_work(engine) as session:
        service.record_cancelled(session, donation=service.get(session, reference, for_update=True))
    return Outcome("succeeded")


# --- attempts (take a session, never commit) -----------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    reference: str
    kind: str
    amount: Money
    email: str
    full_name: str
    idempotency_key: str
    payment_method: str
    replay: bool = False  # the same key and card again, to learn how an interrupted attempt ended
    done: bool = False  # already paid: nothing to charge

    @property
    def metadata(self) -> dict[str, str]:
        return {"kind": "donation", "donation": self.reference}


def _article_id(session: Session, slug: str) -> int | None:
    if not slug:
        return None
    from store.news import repository as news

    article = news.by_slug(session, slug[:160])
    return article.id if article is not None else None


def begin_attempt(
    session: Session, *, form: service.DonationForm, amount: Money, payment_method: str
) -> Attempt:
    """Claim the donation for one attempt and store its idempotency key (commit before calling Stripe)."""
    if not payment_method.startswith("pm_") or len(payment_method) > 120:
        raise DomainError("Your card details didn't come through. Please try again.", field="card")
    donation = repository.by_reference(session, form.reference, for_update=True)
    if donation is None:
        candidate = Donation(
            reference=form.reference,
            kind=form.frequency,
            amount=amount.amount,
            currency=amount.currency,
            email=form.email,
            full_name=form.full_name,
            article_id=_article_id(session, form.source),
        )
        try:
            with session.begin_nested():
                session.add(candidate)
        except IntegrityError:
            pass
        donation = repository.by_reference(session, form.reference, for_update=True)
        assert donation is not None
    if donation.status in service.FINISHED:
        return attempt_for(donation, done=True)
    now = utcnow()
    if donation.status == DonationStatus.processing:
        if donation.updated_at > now - IN_FLIGHT:
            raise Conflict("Your payment is already on its way. Please wait a moment before trying again.")
        donation.updated_at = now
        session.add(donation)
        log.warning("replaying an interrupted donation attempt", extra={"donation": donation.reference})
        return attempt_for(donation, replay=True)
    donation.kind = form.frequency
    donation.amount = amount.amount
    donation.currency = amount.currency
    donation.email = form.email
    donation.full_name = form.full_name
    donation.attempts += 1
    donation.idempotency_key = f"donation-{donation.reference}-{donation.attempts}"
    donation.payment_method = payment_method
    donation.status = DonationStatus.processing
    donation.failure_message = ""
    donation.updated_at = now
    session.add(donation)
    return attempt_for(donation)


def attempt_for(donation: Donation, *, replay: bool = False, done: bool = False) -> Attempt:
    return Attempt(
        reference=donation.reference,
        kind=donation.kind,
        amount=donation.money(),
        email=donation.email,
        full_name=donation.full_name,
        idempotency_key=donation.idempotency_key,
        payment_method=donation.payment_method,
        replay=replay,
        done=done,
    )


def charge(attempt: Attempt) -> payment.PaymentResult | payment.SubscriptionResult:
    """The Stripe call for an attempt. Outside any transaction; raises payment.PaymentError."""
    if attempt.kind == DonationKind.monthly:
        return payment.start_monthly_support(
            email=attempt.email,
            name=attempt.full_name,
            amount=attempt.amount,
            payment_method=attempt.payment_method,
            idempotency_key=attempt.idempotency_key,
            metadata=attempt.metadata,
        )
    return payment.pay(
        amount=attempt.amount,
        payment_method=attempt.payment_method,
        idempotency_key=attempt.idempotency_key,
        metadata=attempt.metadata,
    )


def record_result(
    session: Session, *, reference: str, result: payment.PaymentResult | payment.SubscriptionResult
) -> Outcome:
    donation = service.get(session, reference, for_update=True)
    donation.updated_at = utcnow()
    if isinstance(result, payment.SubscriptionResult):
        donation.customer_id = result.customer_id or donation.customer_id
        donation.subscription_id = result.subscription_id or donation.subscription_id
        if result.status == "active":
            service.mark_monthly_payment(session, donation=donation, amount=donation.amount, paid_at=utcnow())
            return Outcome("succeeded")
        if result.status == "requires_action" and result.client_secret:
            donation.intent_id = result.client_secret.split("_secret_")[0]
            donation.status = DonationStatus.requires_action
            session.add(donation)
            return Outcome(
                "requires_action", client_secret=result.client_secret, payment_intent=donation.intent_id
            )
        return Outcome("failed", service.mark_failed(session, donation, result.decline_message))
    donation.intent_id = result.intent_id or donation.intent_id
    if result.status == "succeeded":
        assert result.intent_id is not None
        service.mark_one_off_paid(
            session, donation=donation, intent_id=result.intent_id, amount=result.amount.amount
        )
        return Outcome("succeeded")
    if result.status == "requires_action" and result.client_secret:
        donation.status = DonationStatus.requires_action
        session.add(donation)
        return Outcome("requires_action", client_secret=result.client_secret, payment_intent=result.intent_id)
    if result.status == "processing":
        session.add(donation)  # stays processing: the webhook or reconcile will finish it
        return Outcome(
            "failed", "Your bank is still processing the payment. We'll email you when it's through."
        )
    return Outcome("failed", service.mark_failed(session, donation, result.decline_message))
