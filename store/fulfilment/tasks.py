"""Fulfilment jobs: submit a row, sweep what lost its job, reconcile with the provider."""

from __future__ import annotations

import logging

from huey import crontab

from store.jobs import huey

log = logging.getLogger("store.fulfilment")

RECONCILE_AFTER_MINUTES = 60  # submitted / in production this long without news: ask the provider


@huey.task()
def submit_fulfilment(fulfilment_id: int) -> str:
    from store.fulfilment.submission import submit

    return submit(fulfilment_id)


@huey.task()
def watch_fulfilment(fulfilment_id: int) -> str:
    """Scheduled for just after a claim's lease ends: takes the row over if its holder died."""
    from store.fulfilment.submission import submit

    return submit(fulfilment_id, watchdog=True)


def sweep() -> int:
    """Push again every row whose job was lost or is due (store.webhook's own sweep re-runs
    unprocessed provider webhooks). Returns how many rows were pushed."""
    from store.db import unit_of_work
    from store.fulfilment.submission import due_for_sweep

    with unit_of_work(write=False) as session:
        rows = due_for_sweep(session)
    for row_id in rows:
        assert row_id is not None
        submit_fulfilment(row_id)
    if rows:
        log.info("fulfilment sweep", extra={"rows": len(rows)})
    return len(rows)


@huey.periodic_task(crontab(minute="*"))
def sweep_fulfilment() -> None:
    sweep()


@huey.on_startup("fulfilment_sweep_on_start")
def sweep_on_start() -> None:
    """A restarted worker picks up at once what a killed one left (rows whose lease has run out)."""
    try:
        sweep()
    except Exception:
        log.exception("fulfilment sweep on start failed")


@huey.periodic_task(crontab(minute="*/10"))
def reconcile_fulfilment() -> None:
    from store.fulfilment.reconcile import reconcile

    for line in reconcile(older_than_minutes=RECONCILE_AFTER_MINUTES):
        log.info("reconciled: %s", line)
