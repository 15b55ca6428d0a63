"""Demo subscribers: confirmed, waiting to confirm and unsubscribed, each with its consent record."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session

from store.newsletter.models import ConsentAction, ConsentEvent, Subscriber, SubscriberStatus
from store.newsletter.service import CONSENT_TEXT
from store.timeutil import utcnow

DEMO = [
    ("reader1@example.org", "Jo Reader", SubscriberStatus.confirmed),
    ("reader2@example.org", "", SubscriberStatus.confirmed),
    ("reader3@example.org", "Sam Sign-up", SubscriberStatus.pending),
    ("gone@example.org", "", SubscriberStatus.unsubscribed),
]


def load_demo(session: Session) -> None:
    now = utcnow()
    for n, (email, name, status) in enumerate(DEMO):
        signed_up = now - timedelta(days=20 - n)
        subscriber = Subscriber(
            email=email,
            full_name=name,
            status=status,
            source="newsletter-page",
            created_at=signed_up,
            confirmation_sends=1,
            confirmed_at=signed_up + timedelta(minutes=5) if status != SubscriberStatus.pending else None,
            unsubscribed_at=now - timedelta(days=1) if status == SubscriberStatus.unsubscribed else None,
        )
        session.add(subscriber)
        session.flush()
        assert subscriber.id is not None
        events = [(ConsentAction.subscribe, "newsletter-page", signed_up)]
        if subscriber.confirmed_at:
            events.append((ConsentAction.confirm, "email-link", subscriber.confirmed_at))
        if subscriber.unsubscribed_at:
            events.append((ConsentAction.unsubscribe, "email-link", subscriber.unsubscribed_at))
        for action, source, at in events:
            session.add(
                ConsentEvent(
                    subscriber_id=subscriber.id,
                    email=email,
                    action=action,
                    source=source,
                    created_at=at,
                    consent_text=CONSENT_TEXT if action == ConsentAction.subscribe else "",
                )
            )
    session.flush()
