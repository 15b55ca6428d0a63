"""Newsletter rules: sign-up with double opt-in, confirmation, one-click unsubscribe, the consent
record, and sending an issue to confirmed subscribers. Keyword-only; never commits.

Decisions (documented here and in the issue report):
* One row per address, ever. Signing up again never adds a row and always answers the same page.
  - unknown or unsubscribed address: a confirmation link is sent; the address stays unconfirmed until
    the link is used;
  - pending address: the confirmation link is sent again (at most CONFIRM_EMAILS_PER_HOUR an hour);
  - confirmed address: nothing is sent (no confusing "please confirm" to someone already on the list);
    the attempt is still written to the consent record.
* Confirmation links are signed (itsdangerous, STORE_SECRET_KEY, salt "newsletter-confirm") and expire
  after CONFIRM_MAX_AGE. A GET of the link confirms (the usual double opt-in link).
* Unsubscribe links are signed (salt "newsletter-unsubscribe") and never expire: a List-Unsubscribe
  link in an old email must keep working. GET and POST (RFC 8058) both unsubscribe; repeating is fine.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer
from limits import RateLimitItemPerHour
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from store.auth.service import limiter
from store.config import get_settings
from store.csvio import safe_cell
from store.errors import DomainError, NotFound
from store.mail.service import queue_email, render_email
from store.money import Money
from store.newsletter import repository
from store.newsletter.models import (
    ConsentAction,
    ConsentEvent,
    DeliveryStatus,
    IssueStatus,
    NewsletterDelivery,
    NewsletterIssue,
    Subscriber,
    SubscriberStatus,
)
from store.text import is_email_address
from store.timeutil import utcnow

log = logging.getLogger("store.newsletter")

CONFIRM_MAX_AGE = int(timedelta(days=3).total_seconds())
CONFIRM_SALT = "newsletter-confirm"
UNSUBSCRIBE_SALT = "newsletter-unsubscribe"
SIGNUPS_PER_IP = RateLimitItemPerHour(20)
CONFIRM_EMAILS_PER_HOUR = RateLimitItemPerHour(3)
CONSENT_TEXT = (
    "Yes, email me the Red Revolution Media newsletter: the latest news and updates. "
    "I can unsubscribe at any time with the link in every email."
)
SOURCE_RE = re.compile(r"^[a-z0-9][a-z0-9:_./-]{0,199}$")
DEFAULT_SOURCE = "newsletter-page"
MAX_ITEMS = 12


class SignupThrottled(DomainError):
    status_code = 429


class InvalidLink(DomainError):
    """A confirmation or unsubscribe link that is altered, unknown or expired."""


def normalise_email(raw: str) -> str:
    return raw.strip().lower()


def validate_email(raw: str) -> str:
    email = normalise_email(raw)
    if not email:
        raise DomainError("Enter your email address", field="email")
    if not is_email_address(email):
        raise DomainError("Enter an email address like name@example.com", field="email")
    return email


def clean_source(raw: str | None) -> str:
    source = (raw or "").strip().lower()
    return source if SOURCE_RE.match(source) else DEFAULT_SOURCE


# --- tokens ----------------------------------------------------------------------------------------


def _timed(salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(get_settings().secret_key, salt=salt)


def confirm_token(subscriber: Subscriber) -> str:
    return _timed(CONFIRM_SALT).dumps({"s": subscriber.id, "e": subscriber.email})


def unsubscribe_token(subscriber: Subscriber) -> str:
    return URLSafeSerializer(get_settings().secret_key, salt=UNSUBSCRIBE_SALT).dumps(subscriber.id)


def unsubscribe_url(subscriber: Subscriber) -> str:
    return f"{get_settings().base_url.rstrip('/')}/newsletter/unsubscribe/{unsubscribe_token(subscriber)}"


def newsletter_headers(subscriber: Subscriber) -> dict[str, str]:
    """RFC 2369 + RFC 8058 one-click unsubscribe: on every newsletter email."""
    return {
        "List-Unsubscribe": f"<{unsubscribe_url(subscriber)}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


# --- sign-up, confirm, unsubscribe ------------------------------------------------------------------


def _record(session: Session, subscriber: Subscriber, action: ConsentAction, source: str, ip: str) -> None:
    assert subscriber.id is not None
    session.add(
        ConsentEvent(
            subscriber_id=subscriber.id,
            email=subscriber.email,
            action=action,
            source=source[:200],
            consent_text=CONSENT_TEXT if action == ConsentAction.subscribe else "",
            ip=ip[:64],
        )
    )


def _send_confirmation(session: Session, subscriber: Subscriber) -> None:
    assert subscriber.id is not None
    rate = limiter()
    if not rate.hit(CONFIRM_EMAILS_PER_HOUR, "newsletter-confirm", subscriber.email):
        log.info("confirmation email not resent: hourly limit", extra={"subscriber_id": subscriber.id})
        return
    subscriber.confirmation_sends += 1
    session.add(subscriber)
    link = f"{get_settings().base_url.rstrip('/')}/newsletter/confirm/{confirm_token(subscriber)}"
    text, html = render_email(
        "newsletter_confirm", subscriber=subscriber, confirm_url=link, days=CONFIRM_MAX_AGE // 86400
    )
    queue_email(
        session,
        key=f"newsletter-confirm-{subscriber.id}-{subscriber.confirmation_sends}",
        to=subscriber.email,
        subject="Please confirm your newsletter subscription",
        text=text,
        html=html,
    )


def subscribe(session: Session, *, email: str, full_name: str = "", source: str, ip: str) -> None:
    """Start (or restart) double opt-in. Answers nothing: the caller shows one page whatever happened."""
    email = validate_email(email)
    full_name = " ".join(full_name.split())[:200]
    if not limiter().hit(SIGNUPS_PER_IP, "newsletter-signup", ip):
        raise SignupThrottled("Too many sign-ups from your connection. Please try again in an hour.")
    source = clean_source(source)
    subscriber = repository.subscriber_by_email(session, email)
    if subscriber is None:
        candidate = Subscriber(email=email, full_name=full_name, source=source)
        try:
            with session.begin_nested():
                session.add(candidate)
            subscriber = candidate
        except IntegrityError:  # the same address signed up in another request a moment ago
            subscriber = repository.subscriber_by_email(session, email)
            if subscriber is None:
                raise
    elif full_name and subscriber.status != SubscriberStatus.confirmed:
        subscriber.full_name = full_name
    _record(session, subscriber, ConsentAction.subscribe, source, ip)
    if subscriber.status == SubscriberStatus.confirmed:
        log.info("sign-up for a confirmed address: nothing sent", extra={"subscriber_id": subscriber.id})
        return
    if subscriber.status == SubscriberStatus.unsubscribed:
        subscriber.status = SubscriberStatus.pending
    session.add(subscriber)
    session.flush()
    _send_confirmation(session, subscriber)


def confirm(session: Session, *, token: str, ip: str) -> Subscriber:
    try:
        data = _timed(CONFIRM_SALT).loads(token, max_age=CONFIRM_MAX_AGE)
    except SignatureExpired as exc:
        raise InvalidLink(
            "This confirmation link has expired. Please sign up again and we'll send you a new one."
        ) from exc
    except BadSignature as exc:
        raise InvalidLink("This confirmation link isn't valid. Please check it was copied in full.") from exc
    subscriber = session.get(Subscriber, data.get("s")) if isinstance(data, dict) else None
    if subscriber is None or subscriber.email != data.get("e"):
        raise InvalidLink("This confirmation link isn't valid. Please check it was copied in full.")
    if subscriber.status == SubscriberStatus.unsubscribed:
        raise InvalidLink("You unsubscribed after this link was sent. Please sign up again to rejoin.")
    if subscriber.status == SubscriberStatus.pending:
        moved = session.execute(
            update(Subscriber)
            .where(col(Subscriber.id) == subscriber.id, col(Subscriber.status) == SubscriberStatus.pending)
            .values(status=SubscriberStatus.confirmed, confirmed_at=utcnow())
        )
        session.refresh(subscriber)
        if moved.rowcount:  # type: ignore[attr-defined]
            _record(session, subscriber, ConsentAction.confirm, "email-link", ip)
            log.info("subscriber confirmed", extra={"subscriber_id": subscriber.id})
    return subscriber


def subscriber_for_unsubscribe(session: Session, token: str) -> Subscriber:
    try:
        subscriber_id = URLSafeSerializer(get_settings().secret_key, salt=UNSUBSCRIBE_SALT).loads(token)
    except BadSignature as exc:
        raise InvalidLink("This unsubscribe link isn't valid. Please check it was copied in full.") from exc
    subscriber = session.get(Subscriber, subscriber_id) if isinstance(subscriber_id, int) else None
    if subscriber is None:
        raise InvalidLink("This unsubscribe link isn't valid. Please check it was copied in full.")
    return subscriber


def unsubscribe(session: Session, *, token: str, source: str, ip: str) -> Subscriber:
    """One click, no questions. Repeating it changes nothing and records nothing more."""
    subscriber = subscriber_for_unsubscribe(session, token)
    moved = session.execute(
        update(Subscriber)
        .where(col(Subscriber.id) == subscriber.id, col(Subscriber.status) != SubscriberStatus.unsubscribed)
        .values(status=SubscriberStatus.unsubscribed, unsubscribed_at=utcnow())
    )
    session.refresh(subscriber)
    if moved.rowcount:  # type: ignore[attr-defined]
        _record(session, subscriber, ConsentAction.unsubscribe, source, ip)
        log.info("subscriber unsubscribed", extra={"subscriber_id": subscriber.id, "source": source})
    return subscriber


# --- issues ----------------------------------------------------------------------------------------


@dataclass
class IssueForm:
    subject: str = ""
    intro: str = ""
    article_ids: list[int] = field(default_factory=list)
    product_ids: list[int] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


def create_issue(session: Session, *, form: IssueForm, staff_email: str) -> NewsletterIssue:
    from catalog.models import Product
    from store.news.models import Article

    form.errors = {}
    subject = " ".join(form.subject.split())
    if not subject:
        form.errors["subject"] = "Enter a subject"
    elif len(subject) > 200:
        form.errors["subject"] = "Keep the subject to 200 characters or fewer"
    if not form.article_ids and not form.product_ids:
        form.errors["article_ids"] = "Choose at least one article or product"
    if len(form.article_ids) > MAX_ITEMS or len(form.product_ids) > MAX_ITEMS:
        form.errors["article_ids"] = f"Choose at most {MAX_ITEMS} articles and {MAX_ITEMS} products"
    articles = [session.get(Article, i) for i in dict.fromkeys(form.article_ids)]
    products = [session.get(Product, i) for i in dict.fromkeys(form.product_ids)]
    if any(a is None or not a.is_published for a in articles):
        form.errors["article_ids"] = "Choose published articles only"
    if any(p is None or not p.is_published for p in products):
        form.errors["product_ids"] = "Choose published products only"
    if form.errors:
        raise DomainError(next(iter(form.errors.values())), field=next(iter(form.errors)))
    issue = NewsletterIssue(
        subject=subject,
        intro=form.intro.strip()[:5000],
        article_ids=list(dict.fromkeys(form.article_ids)),
        product_ids=list(dict.fromkeys(form.product_ids)),
        created_by=staff_email,
    )
    session.add(issue)
    session.flush()
    return issue


def get_issue(session: Session, issue_id: int) -> NewsletterIssue:
    issue = session.get(NewsletterIssue, issue_id)
    if issue is None:
        raise NotFound("No such newsletter issue.")
    return issue


def start_send(session: Session, *, issue_id: int) -> bool:
    """draft → sending (once, however often staff press Send), then the job does the rest after commit."""
    issue = get_issue(session, issue_id)
    if issue.status == IssueStatus.draft and not repository.confirmed_ids_without_delivery(session, issue_id):
        raise DomainError("There are no confirmed subscribers yet, so there is nobody to send this to.")
    moved = session.execute(
        update(NewsletterIssue)
        .where(col(NewsletterIssue.id) == issue_id, col(NewsletterIssue.status) == IssueStatus.draft)
        .values(status=IssueStatus.sending, send_started_at=utcnow())
    )
    if not moved.rowcount:  # type: ignore[attr-defined]
        return False
    # Recipients are fixed when the send starts: who was confirmed then. Later sign-ups wait for the next.
    # One query and one bulk insert: this runs under the write lock, however long the list is.
    session.add_all(
        NewsletterDelivery(
            issue_id=issue_id,
            subscriber_id=subscriber_id,
            email=email,
            email_key=f"newsletter-{issue_id}-{subscriber_id}",
        )
        for subscriber_id, email in repository.confirmed_without_delivery(session, issue_id)
    )
    from store.db import on_commit
    from store.newsletter.tasks import send_issue

    on_commit(session, lambda: send_issue(issue_id))
    log.info("newsletter send started", extra={"issue_id": issue_id})
    return True


def issue_content(session: Session, issue: NewsletterIssue) -> dict[str, object]:
    from catalog.models import Product
    from store.news.models import Article

    base = get_settings().base_url.rstrip("/")
    articles = [a for a in (session.get(Article, i) for i in issue.article_ids) if a is not None]
    products = [p for p in (session.get(Product, i) for i in issue.product_ids) if p is not None]
    return {
        "issue": issue,
        "articles": [
            {"title": a.title, "standfirst": a.standfirst, "url": f"{base}/news/{a.slug}"} for a in articles
        ],
        "products": [
            {"title": p.title, "price": Money(p.price, p.currency), "url": f"{base}/shop/{p.slug}"}
            for p in products
        ],
    }


def send_batch(session: Session, *, issue_id: int, limit: int = 100) -> int:
    """Queue the next `limit` recipients' emails. Returns how many rows it handled (0: all done).

    Idempotent: each email's key is newsletter-{issue}-{subscriber}, so a crash between queueing and
    marking the row just finds the key taken next time, and nobody is mailed twice. Every email is
    rendered before the first write, so on SQLite (the caller's unit is not read-modify-write) the
    write lock is held only for the inserts, not for the rendering.
    """
    issue = get_issue(session, issue_id)
    batch = repository.pending_deliveries(session, issue_id, limit)
    if not batch:
        if issue.status == IssueStatus.sending:
            issue.status = IssueStatus.sent
            issue.sent_at = utcnow()
            session.add(issue)
            log.info("newsletter issue fully queued", extra={"issue_id": issue_id})
        return 0
    content = issue_content(session, issue)
    rendered: list[tuple[NewsletterDelivery, Subscriber | None, str, str]] = []
    for delivery in batch:
        subscriber = session.get(Subscriber, delivery.subscriber_id)
        if subscriber is None or subscriber.status != SubscriberStatus.confirmed:
            rendered.append((delivery, None, "", ""))
            continue
        text, html = render_email(
            "newsletter_issue", subscriber=subscriber, unsubscribe_url=unsubscribe_url(subscriber), **content
        )
        rendered.append((delivery, subscriber, text, html))
    for delivery, recipient, text, html in rendered:
        delivery.updated_at = utcnow()
        if recipient is None:
            delivery.status = DeliveryStatus.skipped
            session.add(delivery)
            continue
        queue_email(
            session,
            key=delivery.email_key,
            to=recipient.email,
            subject=issue.subject,
            text=text,
            html=html,
            headers=newsletter_headers(recipient),
        )
        delivery.status = DeliveryStatus.queued
        session.add(delivery)
    return len(batch)


def export_rows(session: Session) -> list[list[str]]:
    """Subscribers for the CSV export; cells that a spreadsheet would run as a formula are defused."""

    def cell(value: object) -> str:
        return safe_cell(value.isoformat() if isinstance(value, datetime) else value)

    rows = [["email", "full_name", "status", "source", "created_at", "confirmed_at", "unsubscribed_at"]]
    for s in repository.subscribers(session):
        rows.append(
            [
                cell(v)
                for v in (
                    s.email,
                    s.full_name,
                    s.status,
                    s.source,
                    s.created_at,
                    s.confirmed_at,
                    s.unsubscribed_at,
                )
            ]
        )
    return rows


def consent_history(session: Session, email: str) -> list[ConsentEvent]:
    subscriber = session.exec(select(Subscriber).where(Subscriber.email == normalise_email(email))).first()
    if subscriber is None or subscriber.id is None:
        return []
    return list(repository.consent_events(session, subscriber.id))
