"""The job queue (huey): SQLite storage by default, Redis when STORE_REDIS_URL is set.

Jobs own their transaction like requests do (store.db.unit_of_work). Anything a job must not lose
is also written as a row in the database first (an outbox), so a lost enqueue is picked up by the
periodic sweep rather than forgotten.
"""

from __future__ import annotations

from pathlib import Path

from huey import Huey, RedisHuey, SqliteHuey

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


huey = make_huey(get_settings())
