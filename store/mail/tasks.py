"""Send queued emails; a periodic sweep retries any that a lost enqueue or an SMTP error left."""

from __future__ import annotations

import logging
from datetime import timedelta

from huey import crontab
from sqlmodel import col, select

from store.config import get_settings
from store.db import unit_of_work
from store.jobs import huey
from store.mail.models import OutboundEmail
from store.mail.transport import deliver
from store.timeutil import utcnow

log = logging.getLogger("store.mail")
MAX_ATTEMPTS = 8


@huey.task(retries=3, retry_delay=30)
def send_email(key: str) -> None:
    send_now(key)


def send_now(key: str) -> bool:
    settings = get_settings()
    with unit_of_work() as session:
        email = session.exec(
            select(OutboundEmail).where(OutboundEmail.key == key).with_for_update()
        ).first()
        if email is None or email.sent_at is not None:
            return False
        email.attempts += 1
        try:
            deliver(email, settings)
        except Exception as exc:
            email.last_error = f"{type(exc).__name__}: {exc}"[:500]
            session.add(email)
            log.warning("email not sent", extra={"email_key": key, "attempt": email.attempts})
            raise
        email.sent_at = utcnow()
        session.add(email)
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
