"""Send queued emails; a periodic sweep retries any that a lost enqueue or an SMTP error left."""

from __future__ import annotations

import logging
from datetime import timedelta

from huey import crontab
from sqlalchemy import update
from sqlmodel import col, select

from store.config import get_settings
from store.db import unit_of_work
from store.jobs import huey
from store.mail.models import OutboundEmail
from store.mail.transport import deliver
from store.timeutil import utcnow

log = logging.getLogger("store.mail")
MAX_ATTEMPTS = 8
SEND_CLAIM = timedelta(minutes=2)  # longer than SMTP's timeout: a dead sender's claim runs out after this


@huey.task(retries=3, retry_delay=30)
def send_email(key: str) -> None:
    send_now(key)


def send_now(key: str) -> bool:
    """Send one queued email, in the shape of store/order/refunds.py: claim it (committed), hand it to
    the SMTP server with no transaction open, record that it went. True if this call sent it."""
    settings = get_settings()
    now = utcnow()
    with unit_of_work() as session:
        email = session.exec(select(OutboundEmail).where(OutboundEmail.key == key)).first()
        if email is None or email.sent_at is not None:
            return False
        claimed = session.execute(
            update(OutboundEmail)
            .where(
                col(OutboundEmail.id) == email.id,
                col(OutboundEmail.sent_at).is_(None),
                col(OutboundEmail.claimed_until).is_(None) | (col(OutboundEmail.claimed_until) < now),
            )
            .values(attempts=OutboundEmail.attempts + 1, claimed_until=now + SEND_CLAIM)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            return False  # another worker is sending it right now
        session.refresh(email)
        session.expunge(email)
    try:
        deliver(email, settings)
    except Exception as exc:
        with unit_of_work() as session:
            session.execute(
                update(OutboundEmail)
                .where(col(OutboundEmail.id) == email.id)
                .values(last_error=f"{type(exc).__name__}: {exc}"[:500], claimed_until=None)
            )
        log.warning("email not sent", extra={"email_key": key, "attempt": email.attempts})
        raise
    with unit_of_work() as session:
        session.execute(
            update(OutboundEmail)
            .where(col(OutboundEmail.id) == email.id)
            .values(sent_at=utcnow(), claimed_until=None)
        )
    log.info("email sent", extra={"email_key": key})
    return True


@huey.periodic_task(crontab(minute="*/5"))
def sweep_unsent_emails() -> None:
    cutoff = utcnow() - timedelta(minutes=2)
    with unit_of_work() as session:
        keys = session.exec(
            select(OutboundEmail.key).where(
                col(OutboundEmail.sent_at).is_(None),
                col(OutboundEmail.created_at) < cutoff,
                col(OutboundEmail.attempts) < MAX_ATTEMPTS,
            )
        ).all()
    for key in keys:
        try:
            send_now(key)
        except Exception:  # noqa: S112 — logged in send_now; the next sweep tries again
            continue
