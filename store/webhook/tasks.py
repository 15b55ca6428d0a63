"""Process stored webhook events after commit; a sweep picks up any whose enqueue was lost."""

from __future__ import annotations

import logging
from datetime import timedelta

from huey import crontab
from sqlmodel import col, select

from store.db import unit_of_work
from store.jobs import huey
from store.timeutil import utcnow
from store.webhook.models import InboundEvent
from store.webhook.service import handlers_for

log = logging.getLogger("store.webhook")
MAX_ATTEMPTS = 10
SWEEP_AFTER = timedelta(minutes=2)


@huey.task(retries=2, retry_delay=10)
def process_inbound_event(event_id: int) -> None:
    process_now(event_id)


def process_now(event_id: int) -> bool:
    """Run the handlers for one stored event, once. True if this call processed it.

    One short transaction that holds the row (FOR UPDATE SKIP LOCKED on PostgreSQL; SQLite's write
    lock from the first statement), so two workers never run it together. The handlers run in a
    savepoint: if one fails, the savepoint rolls back with all of their writes and after-commit pushes
    (store.db drops actions registered in a savepoint that rolls back), and the error is recorded on
    the row in the same transaction; the sweep retries it.
    """
    with unit_of_work() as session:
        event = session.exec(
            select(InboundEvent).where(InboundEvent.id == event_id).with_for_update(skip_locked=True)
        ).first()
        if event is None or event.processed_at is not None:
            return False
        source, external_id, kind = event.source, event.external_id, event.type
        context = {"source": source, "external_id": external_id, "type": kind}
        event.attempts += 1
        try:
            with session.begin_nested():
                for handler in handlers_for(source, kind):
                    handler(session, event)
        except Exception as exc:  # recorded on the row; the sweep retries it
            event.error = f"{type(exc).__name__}: {exc}"[:1000]
            session.add(event)
            log.exception("webhook event failed", extra=context)
            return False
        event.processed_at = utcnow()
        event.error = ""
        session.add(event)
    # Said once it is true (committed), and written outside SQLite's write lock.
    log.info("webhook event processed", extra=context)
    return True


def sweep_unprocessed(*, older_than: timedelta = SWEEP_AFTER) -> int:
    """Process events left unprocessed (a lost enqueue, a crash, an earlier failure). How many were done."""
    cutoff = utcnow() - older_than
    with unit_of_work(write=False) as session:
        ids = session.exec(
            select(InboundEvent.id)
            .where(
                col(InboundEvent.processed_at).is_(None),
                col(InboundEvent.received_at) <= cutoff,
                col(InboundEvent.attempts) < MAX_ATTEMPTS,
            )
            .order_by(col(InboundEvent.id))
            .limit(500)
        ).all()
    done = 0
    for event_id in ids:
        assert event_id is not None
        try:
            done += process_now(event_id)
        except Exception:  # noqa: BLE001 - one bad event must not stop the sweep
            log.exception("webhook sweep could not process event", extra={"event_id": event_id})
    return done


@huey.periodic_task(crontab(minute="*/2"))
def sweep_inbound_events() -> None:
    sweep_unprocessed()
