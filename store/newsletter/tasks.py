"""Sending an issue: batches of emails queued in their own transactions, resumable after a crash."""

from __future__ import annotations

import logging
from datetime import timedelta

from huey import crontab

from store.db import unit_of_work
from store.jobs import huey
from store.newsletter import repository, service
from store.timeutil import utcnow

log = logging.getLogger("store.newsletter")
BATCH = 100


@huey.task(retries=3, retry_delay=60)
def send_issue(issue_id: int) -> None:
    send_issue_now(issue_id)


def send_issue_now(issue_id: int, batch: int = BATCH) -> None:
    while True:
        # Not read-modify-write: the batch renders its emails before its first write (see send_batch).
        with unit_of_work(write=False) as session:
            handled = service.send_batch(session, issue_id=issue_id, limit=batch)
        if handled == 0:
            return


@huey.periodic_task(crontab(minute="*/10"))
def resume_stalled_sends() -> None:
    """An issue left 'sending' (a worker died mid-way) is picked up again; nobody gets it twice."""
    cutoff = utcnow() - timedelta(minutes=10)
    with unit_of_work(write=False) as session:
        stalled = [
            i.id
            for i in repository.issues_sending(session)
            if i.id is not None and (i.send_started_at is None or i.send_started_at < cutoff)
        ]
    for issue_id in stalled:
        try:
            send_issue_now(issue_id)
        except Exception:
            log.exception("resuming newsletter send failed", extra={"issue_id": issue_id})
