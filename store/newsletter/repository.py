"""Newsletter queries: no rules, no commit."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func
from sqlmodel import Session, col, select

from store.mail.models import OutboundEmail
from store.newsletter.models import (
    ConsentEvent,
    DeliveryStatus,
    NewsletterDelivery,
    NewsletterIssue,
    Subscriber,
    SubscriberStatus,
)


def subscriber_by_email(session: Session, email: str) -> Subscriber | None:
    return session.exec(select(Subscriber).where(Subscriber.email == email)).first()


def subscribers(session: Session) -> Sequence[Subscriber]:
    return session.exec(select(Subscriber).order_by(col(Subscriber.id))).all()


def counts_by_status(session: Session) -> dict[str, int]:
    rows = session.exec(select(Subscriber.status, func.count()).group_by(Subscriber.status)).all()
    found = {str(status): int(n) for status, n in rows}
    return {status.value: found.get(status.value, 0) for status in SubscriberStatus}


def consent_events(session: Session, subscriber_id: int) -> Sequence[ConsentEvent]:
    return session.exec(
        select(ConsentEvent).where(ConsentEvent.subscriber_id == subscriber_id).order_by(col(ConsentEvent.id))
    ).all()


def issues(session: Session, *, status: str | None = None) -> Sequence[NewsletterIssue]:
    stmt = select(NewsletterIssue)
    if status:
        stmt = stmt.where(NewsletterIssue.status == status)
    return session.exec(stmt.order_by(col(NewsletterIssue.id).desc())).all()


def confirmed_without_delivery(session: Session, issue_id: int) -> list[tuple[int, str]]:
    """(id, email) of confirmed subscribers who have no delivery row for this issue yet, in id order."""
    already = select(NewsletterDelivery.subscriber_id).where(NewsletterDelivery.issue_id == issue_id)
    found = session.exec(
        select(Subscriber.id, Subscriber.email)
        .where(Subscriber.status == SubscriberStatus.confirmed, col(Subscriber.id).not_in(already))
        .order_by(col(Subscriber.id))
    ).all()
    return [(i, email) for i, email in found if i is not None]


def confirmed_ids_without_delivery(session: Session, issue_id: int) -> list[int]:
    return [i for i, _ in confirmed_without_delivery(session, issue_id)]


def pending_deliveries(session: Session, issue_id: int, limit: int) -> Sequence[NewsletterDelivery]:
    return session.exec(
        select(NewsletterDelivery)
        .where(NewsletterDelivery.issue_id == issue_id, NewsletterDelivery.status == DeliveryStatus.pending)
        .order_by(col(NewsletterDelivery.id))
        .limit(limit)
    ).all()


def deliveries_with_mail(
    session: Session, issue_id: int, *, limit: int = 500
) -> Sequence[tuple[NewsletterDelivery, OutboundEmail | None]]:
    rows = session.exec(
        select(NewsletterDelivery, OutboundEmail)
        .join(OutboundEmail, col(OutboundEmail.key) == col(NewsletterDelivery.email_key), isouter=True)
        .where(NewsletterDelivery.issue_id == issue_id)
        .order_by(col(NewsletterDelivery.id))
        .limit(limit)
    ).all()
    return [(d, m) for d, m in rows]


def delivery_counts(session: Session, issue_id: int) -> dict[str, int]:
    """total, pending, skipped, queued (not yet sent), sent, failing (an error on its last attempt)."""
    rows = session.exec(
        select(NewsletterDelivery.status, OutboundEmail.sent_at, OutboundEmail.last_error)
        .join(OutboundEmail, col(OutboundEmail.key) == col(NewsletterDelivery.email_key), isouter=True)
        .where(NewsletterDelivery.issue_id == issue_id)
    ).all()
    counts = {"total": 0, "pending": 0, "skipped": 0, "queued": 0, "sent": 0, "failing": 0}
    for status, sent_at, last_error in rows:
        counts["total"] += 1
        counts[delivery_word(status, sent_at is not None, last_error or "")] += 1
    return counts


def delivery_word(status: str, sent: bool, last_error: str) -> str:
    if status != DeliveryStatus.queued:
        return str(status)
    if sent:
        return "sent"
    return "failing" if last_error else "queued"


def issues_sending(session: Session) -> Sequence[NewsletterIssue]:
    return session.exec(select(NewsletterIssue).where(NewsletterIssue.status == "sending")).all()
