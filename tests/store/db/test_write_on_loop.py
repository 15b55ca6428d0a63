"""Writes from the event loop (store.db.run_writing_unit), the file lock's hand-over after a give-up,
and WAL checkpoints kept off the write path.

These use their own scratch SQLite file, so they run the same whichever database the suite is on.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from store import db as store_db
from store.db import FileLock, commit_writes, gate_for, run_writing_unit

pytestmark = pytest.mark.no_db
T = TypeVar("T")


def names(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT name FROM item ORDER BY id")).scalars())


def on_a_loop_of_its_own(main: Callable[[], Coroutine[Any, Any, T]]) -> tuple[T, str]:
    """asyncio.run(main()) in a thread of its own (the browser tests' Playwright keeps a loop in the
    main thread): its answer, or its exception, and the name of the loop's thread."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = asyncio.run(main())
        except BaseException as exc:  # handed to the test's thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="test-loop")
    thread.start()
    thread.join(30)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"], thread.name


def insert(session: Session, name: str) -> str:
    session.connection().execute(text("INSERT INTO item (name) VALUES (:n)"), {"n": name})
    return threading.current_thread().name


def unit(engine: Engine, name: str, wait: float | None) -> str:
    """A whole unit of work as run_writing_unit wants it: the thread it wrote on."""
    with Session(engine) as session:
        return commit_writes(session, lambda: insert(session, name), wait=wait)


def test_with_the_gate_free_the_writes_run_on_the_loop_and_are_committed(scratch: Engine) -> None:
    async def add() -> str:
        return await run_writing_unit(lambda wait: unit(scratch, "shirt", wait), engine=scratch)

    ran_on, loop_thread = on_a_loop_of_its_own(add)
    assert ran_on == loop_thread  # the loop's own thread: no hop
    assert names(scratch) == ["shirt"]
    assert gate_for(os.path.abspath(str(scratch.url.database))).holder is None


def test_behind_a_long_holder_a_worker_waits_and_the_loop_keeps_serving(scratch: Engine) -> None:
    # given another thread holding the write lock for 300 ms (a checkout, say)
    held = threading.Event()

    def long_holder() -> None:
        with Session(scratch) as other:
            insert(other, "first")
            held.set()
            time.sleep(0.3)
            other.commit()

    holder = threading.Thread(target=long_holder)
    holder.start()
    held.wait(5)

    # when a request on the loop writes, while another task on the loop counts its turns
    async def scenario() -> tuple[str, int]:
        ticks = 0
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0.01)

        task = asyncio.create_task(ticker())
        ran_on = await run_writing_unit(lambda wait: unit(scratch, "second", wait), engine=scratch)
        stop.set()
        await task
        return ran_on, ticks

    (ran_on, ticks), loop_thread = on_a_loop_of_its_own(scenario)
    holder.join(5)
    # then the write waited on a worker thread, in order, and the loop went on meanwhile
    assert ran_on != loop_thread
    assert names(scratch) == ["first", "second"]
    assert ticks >= 10  # ~30 turns of 10 ms during the 300 ms wait; a blocked loop would give 1


def test_an_error_in_the_writes_commits_nothing_and_lets_the_lock_go(scratch: Engine) -> None:
    def insert_then_fail(session: Session) -> None:
        insert(session, "half")
        raise ValueError("refused")

    def failing_unit(wait: float | None) -> None:
        with Session(scratch) as session:
            try:
                commit_writes(session, lambda: insert_then_fail(session), wait=wait)
            finally:
                session.rollback()

    async def add() -> None:
        await run_writing_unit(failing_unit, engine=scratch)

    with pytest.raises(ValueError, match="refused"):
        on_a_loop_of_its_own(add)
    assert names(scratch) == []
    with Session(scratch) as session:  # the lock is free: a write goes straight in
        insert(session, "after")
        session.commit()
    assert names(scratch) == ["after"]


def test_on_the_loop_a_request_never_waits_for_another_suspended_on_the_same_thread(scratch: Engine) -> None:
    # Request A holds the lock and is suspended on the loop; B, on the same loop, must not wait for it
    # (the loop would stop and A never resume): "not now" at once, or a loud error for a blocking wait.
    gate = gate_for(os.path.abspath(str(scratch.url.database)))

    async def scenario() -> tuple[object, float, str]:
        store_db._unit.set(object())  # request A (each asyncio.run copies the context)
        assert gate.try_acquire(statement="INSERT") is not None
        store_db._unit.set(object())  # request B, on the same thread
        started = time.monotonic()
        tried = gate.try_acquire(statement="INSERT", wait=1.0)
        waited = time.monotonic() - started
        try:
            gate.acquire(statement="INSERT", wait=1.0)
            refused = ""
        except store_db.WriteGateSelfDeadlock as exc:
            refused = str(exc)
        gate.release()
        return tried, waited, refused

    (tried, waited, refused), _ = on_a_loop_of_its_own(scenario)
    assert tried is None and waited < 0.5
    assert "suspended (an await inside a write transaction)" in refused


def test_on_a_pool_thread_a_holder_that_began_there_for_another_request_is_waited_for(
    scratch: Engine,
) -> None:
    # A sync dependency took the lock on this pool thread for request A, whose handler commits on
    # another thread; meanwhile this thread serves request B, which simply waits its turn.
    gate = gate_for(os.path.abspath(str(scratch.url.database)))
    outcome: dict[str, object] = {}

    def pool_thread() -> None:  # a thread of its own: the test's main thread may run Playwright's loop
        token = store_db._unit.set(object())  # request A
        assert gate.try_acquire(statement="INSERT") is not None
        store_db._unit.reset(token)
        threading.Timer(0.1, gate.release).start()  # A's commit, from another thread
        store_db._unit.set(object())  # request B, same thread
        try:
            outcome["holder"] = gate.acquire(statement="INSERT", wait=5)
            gate.release()
        except Exception as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=pool_thread)
    worker.start()
    worker.join(10)
    assert "error" not in outcome, outcome.get("error")
    assert outcome.get("holder") is not None


def test_a_lock_handed_to_nobody_after_a_give_up_never_frees_the_next_holder(tmp_path: Path) -> None:
    # Two opens of one file conflict like two processes. B gives up waiting while its helper thread
    # is still asleep in the kernel; when A lets go, B takes the lock again. The helper waking then
    # must not let go of B's lock (its flock on the same open file would succeed at once).
    path = str(tmp_path / "lock")
    a, b = FileLock(path), FileLock(path)
    assert a.acquire()
    assert not b.acquire(timeout=0.05)
    a.release()
    assert b.acquire(timeout=5)
    time.sleep(0.2)  # the helper has woken by now
    assert not a.try_acquire()  # B still holds it
    b.release()
    assert a.acquire(timeout=5)
    a.release()


def test_connections_leave_checkpoints_to_the_checkpointer_and_it_runs_them(scratch: Engine) -> None:
    with scratch.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
    before = store_db._checkpointer.done
    for n in range(store_db.CHECKPOINT_EVERY):
        with Session(scratch) as session:
            insert(session, f"item {n}")
            session.commit()
    deadline = time.monotonic() + 10
    while store_db._checkpointer.done == before:
        assert time.monotonic() < deadline, "no checkpoint ran"
        time.sleep(0.01)
    # everything in the WAL is in the database file: a checkpoint now has nothing left to copy
    with sqlite3.connect(str(scratch.url.database)) as raw:
        busy, in_log, copied = raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    assert busy == 0 and in_log == copied


@pytest.mark.postgres
def test_a_postgres_connection_cut_while_idle_in_the_pool_is_replaced_before_use(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import POSTGRES_URL

    engine = store_db._make_engine(POSTGRES_URL)
    admin = store_db._make_engine(POSTGRES_URL)
    try:
        with engine.connect() as conn:
            first = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        # given its pooled connection is cut while idle (a restart, a proxy's idle timeout)
        with admin.connect() as conn:
            conn.exec_driver_sql(f"SELECT pg_terminate_backend({int(first)})")  # type: ignore[arg-type]
            conn.commit()
        monkeypatch.setattr(store_db, "PING_AFTER_IDLE_SECONDS", 0.0)
        # when it is next taken from the pool, the ping finds it dead and a new one is used unseen
        with engine.connect() as conn:
            second = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        assert second != first
    finally:
        engine.dispose()
        admin.dispose()


def test_a_short_wait_is_not_spent_behind_others_already_queued_in_the_process(scratch: Engine) -> None:
    # The event loop's add waits a moment for the gate, else goes to a worker thread. Behind a
    # holder alone it waits (an add holds it ~0.5 ms); behind a queue of others (checkouts, payments,
    # milliseconds each) it does not wait at all: the loop, and every page on it, would stand still.
    gate = gate_for(os.path.abspath(str(scratch.url.database)))
    holding, queued = threading.Event(), threading.Event()

    def holder(seconds: float) -> None:
        store_db._unit.set(object())
        assert gate.try_acquire(statement="INSERT") is not None
        holding.set()
        time.sleep(seconds)
        gate.release()

    def waiter() -> None:
        store_db._unit.set(object())
        queued.set()
        gate.acquire(statement="INSERT", wait=5)
        gate.release()

    def try_for(wait: float) -> tuple[bool, float]:
        result: dict[str, Any] = {}

        def attempt() -> None:
            store_db._unit.set(object())
            started = time.monotonic()
            got = gate.try_acquire(statement="INSERT", wait=wait)
            result["took"] = time.monotonic() - started
            result["got"] = got is not None
            if got is not None:
                gate.release()

        thread = threading.Thread(target=attempt)
        thread.start()
        thread.join()
        return result["got"], result["took"]

    # a holder alone: waited for, and the gate is had when it lets go
    first = threading.Thread(target=holder, args=(0.3,))
    first.start()
    holding.wait(5)
    got, took = try_for(2.0)
    first.join()
    assert got and 0.15 < took < 1.5
    # a holder and one more queued behind it: no wait at all
    holding.clear()
    second = threading.Thread(target=holder, args=(0.6,))
    second.start()
    holding.wait(5)
    behind = threading.Thread(target=waiter)
    behind.start()
    queued.wait(5)
    deadline = time.monotonic() + 5
    while gate.fifo.waiting == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    got, took = try_for(2.0)
    second.join()
    behind.join()
    assert not got and took < 0.1
