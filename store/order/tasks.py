"""Order jobs: the worker runs the order reconciler every 10 minutes."""

from __future__ import annotations

import logging

from huey import crontab

from store.jobs import huey

log = logging.getLogger("store.order")


@huey.periodic_task(crontab(minute="*/10"))
def reconcile_orders() -> None:
    from store.order.reconcile import reconcile

    for line in reconcile(older_than_minutes=30):
        log.info("reconciled", extra={"change": line})
