"""`storefront worker`: the huey consumer with every domain's tasks registered."""

from __future__ import annotations

from huey.consumer import Consumer

import store.tasks  # noqa: F401  (registers every task and periodic job)
from store.jobs import huey


def run_worker(*, workers: int = 2) -> None:
    consumer = Consumer(huey, workers=workers, worker_type="thread", periodic=True, check_worker_health=True)
    consumer.run()
