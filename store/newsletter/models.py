"""Subscribers (one row per address, ever), the consent record, issues and their per-recipient rows."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from store.timeutil import utcnow


class SubscriberStatus(StrEnum):
    pending = "pending"  # signed up, has not used the confirmation link yet
    confirmed = "confirmed"
    unsubscribed = "unsubscribed"


class Subscriber(SQLModel, table=True):
    __tablename__ = "newsletter_subscriber"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, unique=True, index=True)  # stored lower-cased and trimmed
    full_name: str = Field(default="", max_length=200)
    status: str = Field(default=SubscriberStatus.pending, max_length=20, index=True)
    source: str = Field(default="", max_length=200)  # where they first signed up
    confirmation_sends: int = 0  # numbers the confirmation emails: key newsletter-confirm-{id}-{n}
    created_at: datetime = Field(default_factory=utcnow)
    confirmed_at: datetime | None = None
    unsubscribed_at: datetime | None = None


class ConsentAction(StrEnum):
    subscribe = "subscribe"
    confirm = "confirm"
    unsubscribe = "unsubscribe"


class ConsentEvent(SQLModel, table=True):
    """Evidence of consent: every subscribe, confirm and unsubscribe, when, from where, with what wording."""

    __tablename__ = "newsletter_consent"

    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int = Field(foreign_key="newsletter_subscriber.id", index=True)
    email: str = Field(max_length=254)
    action: str = Field(max_length=20)
    source: str = Field(default="", max_length=200)  # "article:<slug>", "newsletter-page", "email-link", …
    consent_text: str = ""
    ip: str = Field(default="", max_length=64)
    created_at: datetime = Field(default_factory=utcnow, index=True)


class IssueStatus(StrEnum):
    draft = "draft"
    sending = "sending"
    sent = "sent"


class NewsletterIssue(SQLModel, table=True):
    __tablename__ = "newsletter_issue"

    id: int | None = Field(default=None, primary_key=True)
    subject: str = Field(max_length=200)
    intro: str = ""
    article_ids: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    product_ids: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: str = Field(default=IssueStatus.draft, max_length=20, index=True)
    created_by: str = Field(default="", max_length=254)
    created_at: datetime = Field(default_factory=utcnow)
    send_started_at: datetime | None = None
    sent_at: datetime | None = None  # every recipient's email queued


class DeliveryStatus(StrEnum):
    pending = "pending"  # chosen as a recipient; email not queued yet
    queued = "queued"  # in the mail outbox (sent or not: see outbound_email.sent_at)
    skipped = "skipped"  # unsubscribed between the start of the send and their turn


class NewsletterDelivery(SQLModel, table=True):
    """One row per recipient of an issue: the send is resumable and never mails anyone twice."""

    __tablename__ = "newsletter_delivery"
    __table_args__ = (UniqueConstraint("issue_id", "subscriber_id"),)

    id: int | None = Field(default=None, primary_key=True)
    issue_id: int = Field(foreign_key="newsletter_issue.id", index=True, ondelete="CASCADE")
    subscriber_id: int = Field(foreign_key="newsletter_subscriber.id", index=True)
    email: str = Field(max_length=254)
    email_key: str = Field(max_length=200)  # outbound_email.key
    status: str = Field(default=DeliveryStatus.pending, max_length=20, index=True)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
