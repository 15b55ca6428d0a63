"""Engine and the unit of work: one session per request or job, committed once by its owner."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine

from store.config import Settings, get_settings

SQLITE_BEGIN_OPTION = "storefront_sqlite_begin"


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # WAL lets readers run beside the writer; busy_timeout waits instead of failing on a lock.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "connect")
        def _no_pysqlite_autobegin(dbapi_conn: Any, _record: Any) -> None:
            # pysqlite's own transaction handling breaks SAVEPOINTs; SQLAlchemy's documented fix is
            # to switch it off and emit BEGIN ourselves.
            dbapi_conn.isolation_level = None

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # A transaction that will write takes the write lock at BEGIN. A deferred transaction
            # that reads and then writes fails at once with "database is locked" if another
            # connection committed in between (busy_timeout cannot help with that upgrade);
            # IMMEDIATE makes it wait its turn instead. Reads stay deferred and never block.
            mode = conn.get_execution_options().get(SQLITE_BEGIN_OPTION, "DEFERRED")
            conn.exec_driver_sql(f"BEGIN {'IMMEDIATE' if mode == 'IMMEDIATE' else 'DEFERRED'}")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    return _make_engine(url)


def get_engine(settings: Settings | None = None) -> Engine:
    return engine_for((settings or get_settings()).database_url)


@contextmanager
def unit_of_work(engine: Engine | None = None, *, write: bool = True) -> Iterator[Session]:
    """A transaction owned by its caller (a request or a job): commit once at the end, or roll back.

    `write=False` for read-only work (GET pages): on SQLite it then never waits for the writer.
    """
    bind = engine or get_engine()
    if write and bind.dialect.name == "sqlite":
        bind = bind.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
    with Session(bind, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def on_commit(session: Session, action: Any) -> None:
    """Run `action()` after this session's transaction commits (never if it rolls back).

    Side effects outside the database (queue pushes) go through here, so a rolled-back request
    never enqueues a job about rows that do not exist. Rows that must not be lost are written in
    the transaction too (an outbox), and a periodic sweep picks up any push that was lost.
    """
    session.info.setdefault("after_commit", []).append(action)


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        # after_commit also fires when a SAVEPOINT is released; the outer transaction is still
        # open, so the actions must wait for the real commit.
        return
    actions = session.info.pop("after_commit", [])
    for action in actions:
        try:
            action()
        except Exception:  # the sweep will retry; a failed push must not fail the request
            import logging

            logging.getLogger("store.db").exception("after-commit action failed")


@event.listens_for(Session, "after_rollback")
def _drop_after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        # A SAVEPOINT rolled back; the outer transaction (and what it registered) goes on.
        return
    session.info.pop("after_commit", None)
