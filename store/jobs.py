"""The job queue (huey): SQLite storage by default, Redis when STORE_REDIS_URL is set.

Jobs own their transaction like requests do (store.db.unit_of_work). Anything a job must not lose
is also written as a row in the database first (an outbox), so a lost enqueue is picked up by the
periodic sweep rather than forgotten.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from huey import Huey, RedisHuey
from huey.signals import SIGNAL_ENQUEUED
from huey.storage import SqliteStorage

from store.config import Settings, get_settings
from store.db import gate_for


class GatedSqliteStorage(SqliteStorage):
    """huey's SQLite queue, its writes in line at a write gate like the shop database's (store.db).

    huey serialises its threads with a lock, but between processes (two `serve` workers enqueueing,
    `worker`s dequeueing) it leaves SQLite to busy-poll for up to its 5 s timeout, unfairly, and an
    enqueue runs in the request after its commit: so a rush would see slow answers and, past the
    timeout, "database is locked". Through the gate the queue's writers wait in order, in the kernel.
    Reads (huey's "anything there?" poll) take no gate. Redis is the queue for more than one machine.
    """

    @contextlib.contextmanager
    def db(self, commit: bool = False, close: bool = False) -> Iterator[Any]:
        if not commit:
            with super().db(commit=False, close=close) as cursor:
                yield cursor
            return
        gate = gate_for(os.path.abspath(self.filename))
        gate.acquire(statement="huey: write to the job queue")
        try:
            with super().db(commit=True, close=close) as cursor:
                yield cursor
        finally:
            gate.release()


def make_huey(settings: Settings) -> Huey:
    if settings.redis_url:
        return RedisHuey("storefront", url=settings.redis_url)
    path = Path(settings.var_dir) / "jobs.db"
    if settings.is_sqlite and settings.database_url.split("///", 1)[-1] not in ("", ":memory:"):
        # Keep the queue next to the database it serves.
        path = Path(settings.database_url.split("///", 1)[-1]).with_name("jobs.db")
    path.parent.mkdir(parents=True, exist_ok=True)
    # timeout: SQLite's busy timeout, now only a guard against writers outside the gate.
    return Huey("storefront", storage_class=GatedSqliteStorage, filename=str(path), timeout=30)


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
