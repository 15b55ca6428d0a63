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
SEND_LEASE = timedelta(minutes=5)  # SMTP_TIMEOUT is 20 s per step (connect, TLS, login, send)


@huey.task(retries=3, retry_delay=30)
def send_email(key: str) -> None:
    send_now(key)


def send_now(key: str) -> bool:
    """Send one queued email, at most once. True if this call sent it.

    Three steps, like every outside call: claim it with a lease (committed), talk to the SMTP server
    outside any transaction, record the result. While the lease runs no other worker (the job and
    the sweep may race) sends it; a worker that dies mid-way leaves the lease to run out.
    """
    settings = get_settings()
    with unit_of_work() as session:
        email = session.exec(select(OutboundEmail).where(OutboundEmail.key == key).with_for_update()).first()
        now = utcnow()
        if email is None or email.sent_at is not None:
            return False
        if email.lease_until is not None and email.lease_until > now:
            return False  # another worker is sending it right now
        email.attempts += 1
        email.lease_until = now + SEND_LEASE
        session.add(email)
        email_id, attempt = email.id, email.attempts
    try:
        deliver(email, settings)
    except Exception as exc:
        _record(email_id, last_error=f"{type(exc).__name__}: {exc}"[:500], lease_until=None)
        log.warning("email not sent", extra={"email_key": key, "attempt": attempt})
        raise
    _record(email_id, sent_at=utcnow(), last_error="", lease_until=None)
    log.info("email sent", extra={"email_key": key})
    return True


def _record(email_id: int | None, **values: object) -> None:
    with unit_of_work(write=False) as session:
        session.execute(update(OutboundEmail).where(col(OutboundEmail.id) == email_id).values(**values))


@huey.periodic_task(crontab(minute="*/5"))
def sweep_unsent_emails() -> None:
    cutoff = utcnow() - timedelta(minutes=2)
    with unit_of_work(write=False) as session:
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
