"""The job queue (huey): SQLite storage by default, Redis when STORE_REDIS_URL is set.

Jobs own their transaction like requests do (store.db.unit_of_work). Anything a job must not lose
is also written as a row in the database first (an outbox), so a lost enqueue is picked up by the
periodic sweep rather than forgotten.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Any

from huey import Huey, RedisHuey, SqliteHuey
from huey.signals import SIGNAL_ENQUEUED

from store.config import Settings, get_settings


def make_huey(settings: Settings) -> Huey:
    if settings.redis_url:
        return RedisHuey("storefront", url=settings.redis_url)
    path = Path(settings.var_dir) / "jobs.db"
    if settings.is_sqlite and settings.database_url.split("///", 1)[-1] not in ("", ":memory:"):
        # Keep the queue next to the database it serves.
        path = Path(settings.database_url.split("///", 1)[-1]).with_name("jobs.db")
    path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteHuey("storefront", filename=str(path))


def time_ordered_id() -> str:
    """A UUIDv7 (RFC 9562): its first 48 bits are the milliseconds since the epoch."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10)) & ((1 << 80) - 1)
    value = value & ~(0xF << 76) | (0x7 << 76)  # version 7
    value = value & ~(0x3 << 62) | (0x2 << 62)  # RFC 4122 variant
    return str(uuid.UUID(int=value))


def enqueued_at(task_id: str) -> float | None:
    """When a job was first enqueued (epoch seconds), read from its time-ordered id."""
    try:
        parsed = uuid.UUID(task_id)
    except (TypeError, ValueError):
        return None
    return (parsed.int >> 80) / 1000 if parsed.version == 7 else None


def oldest_enqueued_at(scan: int = 1000) -> float | None:
    """Enqueue time of the oldest job still waiting (among the first `scan` in the queue), or None."""
    stamps = [t for t in (enqueued_at(task.id) for task in huey.pending(limit=scan)) if t is not None]
    return min(stamps) if stamps else None


huey = make_huey(get_settings())


@huey.signal(SIGNAL_ENQUEUED)
def _stamp_enqueue_time(signal: str, task: Any) -> None:
    # Huey stores no enqueue time; a time-ordered id carries it, so /metrics can tell how long the
    # oldest job has waited. A retried job keeps its first id (and so its first enqueue time).
    if enqueued_at(task.id) is None:
        task.id = time_ordered_id()
