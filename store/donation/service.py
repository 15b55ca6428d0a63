"""Donation rules: validate, record money received through one idempotent path (the page, the webhook
and reconcile all land here), thank, cancel.

Keyword-only; never commits. Attempts, their idempotency keys and the calls to Stripe are
store.donation.payments (the shape of store/order/refunds.py).
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from store.config import get_settings
from store.donation import repository
from store.donation.models import Donation, DonationKind, DonationPayment, DonationStatus
from store.errors import DomainError, NotFound
from store.mail.service import queue_email, render_email
from store.money import Money
from store.text import is_email_address
from store.timeutil import utcnow

log = logging.getLogger("store.donation")

MIN_AMOUNT = Money(100)  # £1: below that, card fees eat the gift (and card testers love it)
SHORTCUTS = (5, 10, 25)
REFERENCE_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
MANAGE_SALT = "donation-manage"
FINISHED = (DonationStatus.succeeded, DonationStatus.active, DonationStatus.cancelled)


def new_reference() -> str:
    return secrets.token_urlsafe(24)


def parse_amount(raw: str) -> Money:
    text = raw.strip().replace("£", "").replace(",", "").strip()
    if not text:
        raise DomainError("Enter an amount", field="amount")
    try:
        pounds = Decimal(text)
    except InvalidOperation as exc:
        raise DomainError("Enter an amount in pounds, like 5 or 12.50", field="amount") from exc
    if not pounds.is_finite() or pounds != pounds.quantize(Decimal("0.01")):
        raise DomainError("Enter an amount in pounds, like 5 or 12.50", field="amount")
    amount = Money(int(pounds * 100))
    if amount.amount < MIN_AMOUNT.amount:
        raise DomainError("The smallest donation we can take is £1.", field="amount")
    if amount.amount > max_amount().amount:
        most = get_settings().donation_max_pounds
        raise DomainError(f"The most we can take online in one go is £{most:,}.", field="amount")
    return amount


def max_amount() -> Money:
    """STORE_DONATION_MAX_POUNDS: a larger gift is more likely a mistake (or fraud) than a donor."""
    return Money(get_settings().donation_max_pounds * 100)


@dataclass
class DonationForm:
    frequency: str = DonationKind.one_off
    amount: str = ""
    email: str = ""
    full_name: str = ""
    reference: str = ""
    source: str = ""  # the slug of the article the donor came from, if any
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, data: Any) -> DonationForm:
        def get(name: str) -> str:
            value = data.get(name)
            return str(value)[:300] if value is not None else ""

        return cls(
            frequency=get("frequency") or DonationKind.one_off,
            amount=get("amount"),
            email=get("email"),
            full_name=get("full_name"),
            reference=get("reference"),
            source=get("from"),
        )

    def validate(self) -> Money:
        """The amount, or DomainError for the first problem (all problems are in .errors)."""
        self.errors = {}
        amount = Money(0)
        if self.frequency not in (DonationKind.one_off, DonationKind.monthly):
            self.errors["frequency"] = "Choose one-off or monthly"
        try:
            amount = parse_amount(self.amount)
        except DomainError as exc:
            self.errors["amount"] = exc.message
        self.email = self.email.strip()
        if not self.email:
            self.errors["email"] = "Enter your email address"
        elif not is_email_address(self.email):
            self.errors["email"] = "Enter an email address like name@example.com"
        self.full_name = " ".join(self.full_name.split())
        if not self.full_name:
            self.errors["full_name"] = "Enter your full name"
        elif len(self.full_name) > 200:
            self.errors["full_name"] = "Keep your name to 200 characters or fewer"
        if not REFERENCE_RE.match(self.reference):
            self.errors["reference"] = "This form has expired. Please reload the page and try again."
        if self.errors:
            name, message = next(iter(self.errors.items()))
            raise DomainError(message, field=name)
        return amount


def get(session: Session, reference: str, *, for_update: bool = False) -> Donation:
    donation = repository.by_reference(session, reference, for_update=for_update)
    if donation is None:
        raise NotFound("No such donation.")
    return donation


def mark_failed(session: Session, donation: Donation, message: str | None) -> str:
    """This attempt did not go through (a decline, failed 3-D Secure). Returns the donor's message."""
    text = message or "The payment didn't go through. Please try again or use another card."
    if donation.status not in FINISHED:
        donation.status = DonationStatus.failed
        donation.failure_message = text[:500]
    session.add(donation)
    log.info("donation attempt failed", extra={"donation": donation.reference, "attempt": donation.attempts})
    return text


# --- money received: one idempotent path for the page, the webhook and reconcile --------------------


def _add_payment(
    session: Session, *, donation: Donation, external_id: str, amount: int, paid_at: datetime
) -> bool:
    if repository.payment_exists(session, external_id):
        return False
    assert donation.id is not None
    try:
        with session.begin_nested():
            session.add(
                DonationPayment(
                    donation_id=donation.id,
                    external_id=external_id,
                    amount=amount,
                    currency=donation.currency,
                    paid_at=paid_at,
                )
            )
    except IntegrityError:  # the webhook and the page raced; one row is all we want
        return False
    return True


def mark_one_off_paid(session: Session, *, donation: Donation, intent_id: str, amount: int) -> None:
    added = _add_payment(session, donation=donation, external_id=intent_id, amount=amount, paid_at=utcnow())
    session.execute(
        update(Donation)
        .where(col(Donation.id) == donation.id, col(Donation.status) != DonationStatus.succeeded)
        .values(
            status=DonationStatus.succeeded, succeeded_at=utcnow(), intent_id=intent_id, updated_at=utcnow()
        )
    )
    session.refresh(donation)
    if added:
        log.info("one-off donation paid", extra={"donation": donation.reference, "amount": amount})
    _thank(session, donation)


def mark_monthly_payment(session: Session, *, donation: Donation, amount: int, paid_at: datetime) -> None:
    """One month of support received. Keyed by subscription and billing day, so the page and the
    invoice webhook for the same first payment count once (documented limit: a first payment whose
    page answer and invoice straddle midnight UTC would count twice)."""
    assert donation.subscription_id is not None
    external_id = f"{donation.subscription_id}:{paid_at.astimezone(UTC).date().isoformat()}"
    added = _add_payment(session, donation=donation, external_id=external_id, amount=amount, paid_at=paid_at)
    if donation.status not in FINISHED:
        donation.status = DonationStatus.active
        donation.succeeded_at = donation.succeeded_at or utcnow()
        donation.updated_at = utcnow()
        session.add(donation)
    session.flush()
    if added:
        log.info("monthly support payment", extra={"donation": donation.reference, "amount": amount})
    _thank(session, donation)


def manage_token(donation: Donation) -> str:
    return URLSafeSerializer(get_settings().secret_key, salt=MANAGE_SALT).dumps(donation.reference)


def manage_url(donation: Donation) -> str:
    return f"{get_settings().base_url.rstrip('/')}/donate/manage/{manage_token(donation)}"


def donation_for_manage_token(session: Session, token: str) -> Donation:
    try:
        reference = URLSafeSerializer(get_settings().secret_key, salt=MANAGE_SALT).loads(token)
    except BadSignature as exc:
        raise NotFound("This link isn't valid. Please check it was copied in full.") from exc
    return get(session, str(reference))


def _thank(session: Session, donation: Donation) -> None:
    text, html = render_email(
        "donation_thanks",
        donation=donation,
        amount=donation.money(),
        monthly=donation.kind == DonationKind.monthly,
        manage_url=manage_url(donation),
    )
    queue_email(
        session,
        key=f"donation-{donation.reference}-thanks",
        to=donation.email,
        subject="Thank you for supporting Red Revolution Media",
        text=text,
        html=html,
    )


def record_cancelled(session: Session, *, donation: Donation) -> None:
    """Stripe has stopped the monthly support (store.donation.payments.cancel_monthly asked it)."""
    if donation.status == DonationStatus.cancelled:
        return
    donation.status = DonationStatus.cancelled
    donation.cancelled_at = utcnow()
    donation.updated_at = utcnow()
    session.add(donation)
    log.info("monthly support cancelled by the donor", extra={"donation": donation.reference})


# --- webhooks --------------------------------------------------------------------------------------


def _subscription_of(invoice: dict[str, Any]) -> str | None:
    sub = invoice.get("subscription")
    if isinstance(sub, dict):
        sub = sub.get("id")
    if not sub:  # current Stripe API versions: parent.subscription_details.subscription
        details = (invoice.get("parent") or {}).get("subscription_details") or {}
        sub = details.get("subscription")
    return str(sub) if sub else None


def handle_stripe_event(session: Session, event: dict[str, Any]) -> bool:
    """Called by the Stripe webhook processor for every event. True if it was a donation's and is now
    handled (idempotently: a redelivered event changes nothing). False: not ours, keep looking."""
    kind = str(event.get("type") or "")
    obj = ((event.get("data") or {}).get("object")) or {}
    if not isinstance(obj, dict):
        return False
    if kind.startswith("payment_intent."):
        metadata = obj.get("metadata") or {}
        if metadata.get("kind") != "donation" or not metadata.get("donation"):
            return False
        donation = repository.by_reference(session, str(metadata["donation"]))
        if donation is None or donation.kind != DonationKind.one_off:
            return donation is not None
        if kind == "payment_intent.succeeded":
            mark_one_off_paid(session, donation=donation, intent_id=str(obj["id"]), amount=int(obj["amount"]))
        elif (
            kind == "payment_intent.payment_failed"
            and donation.intent_id == obj.get("id")
            and donation.status in (DonationStatus.processing, DonationStatus.requires_action)
        ):
            mark_failed(session, donation, None)
        return True
    if kind in ("invoice.payment_succeeded", "invoice.paid"):
        sub = _subscription_of(obj)
        donation = repository.by_subscription(session, sub) if sub else None
        if donation is None:
            return False
        amount = int(obj.get("amount_paid") or 0)
        if amount > 0:
            paid_ts = ((obj.get("status_transitions") or {}).get("paid_at")) or obj.get("created")
            paid_at = datetime.fromtimestamp(int(paid_ts), UTC) if paid_ts else utcnow()
            mark_monthly_payment(session, donation=donation, amount=amount, paid_at=paid_at)
        return True
    if kind in ("customer.subscription.deleted", "customer.subscription.updated"):
        donation = repository.by_subscription(session, str(obj.get("id")))
        if donation is None:
            return False
        if (
            obj.get("status") in ("canceled", "incomplete_expired", "unpaid")
            and donation.status != DonationStatus.cancelled
        ):
            donation.status = DonationStatus.cancelled
            donation.cancelled_at = utcnow()
            donation.updated_at = utcnow()
            session.add(donation)
            log.info("monthly support ended at Stripe", extra={"donation": donation.reference})
        return True
    return False
