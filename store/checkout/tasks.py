"""Checkout jobs: the worker cancels abandoned unpaid orders every 10 minutes."""

from __future__ import annotations

import logging

from huey import crontab

from store.jobs import huey

log = logging.getLogger("store.checkout")


@huey.periodic_task(crontab(minute="*/10"))
def cancel_unpaid_orders() -> None:
    from store.checkout.unpaid import cancel_abandoned

    for line in cancel_abandoned():
        log.info("unpaid orders", extra={"change": line})
