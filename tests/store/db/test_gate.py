"""The SQLite write gate (store/db.py): fair, releasable from any thread, bounded, and loud when misused.

These use their own scratch SQLite file, so they run the same whichever database the suite is on.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from store import db as store_db
from store.db import (
    FifoGate,
    WriteGateSelfDeadlock,
    WriteGateTimeout,
    WriteLockMisuse,
    assert_no_write_lock,
    gate_for,
    statement_kind,
    unit_of_work,
)

pytestmark = pytest.mark.no_db


def wait_until(check, timeout: float = 10) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


# --- the in-process FIFO gate --------------------------------------------------------------------


def test_waiters_get_the_gate_in_the_order_they_arrived() -> None:
    # given a held gate and ten threads arriving one after another
    gate = FifoGate()
    assert gate.acquire()
    order: list[int] = []

    def worker(n: int) -> None:
        assert gate.acquire(timeout=10)
        order.append(n)
        gate.release()

    threads = []
    for n in range(10):
        t = threading.Thread(target=worker, args=(n,))
        t.start()
        threads.append(t)
        wait_until(lambda n=n: gate.waiting == n + 1)
    # when the holder lets go
    gate.release()
    for t in threads:
        t.join(10)
    # then they got it first come, first served
    assert order == list(range(10))


def test_the_gate_may_be_released_by_another_thread() -> None:
    # given a gate taken in one thread (as FastAPI takes it in the handler's thread)
    gate = FifoGate()
    taken = threading.Thread(target=gate.acquire)
    taken.start()
    taken.join()
    # when another thread (the teardown's) releases it
    freed = threading.Thread(target=gate.release)
    freed.start()
    freed.join()
    # then it is free
    assert gate.acquire(timeout=0)


def test_a_wait_for_the_gate_ends_after_its_timeout_and_leaves_the_queue() -> None:
    gate = FifoGate()
    assert gate.acquire()
    started = time.monotonic()
    assert gate.acquire(timeout=0.2) is False
    assert 0.15 < time.monotonic() - started < 5
    assert gate.waiting == 0
    gate.release()
    assert gate.acquire(timeout=0)


# --- sessions on SQLite --------------------------------------------------------------------------


def test_a_session_that_read_before_another_commit_can_still_write(scratch: Engine) -> None:
    # The failure of issue 11 ("database is locked" for staff login): a deferred transaction read,
    # someone else committed, and its first write could not get the lock.
    with unit_of_work(scratch, write=False) as reader_then_writer:
        assert reader_then_writer.execute(text("SELECT count(*) FROM item")).scalar_one() == 0
        other = threading.Thread(target=_insert, args=(scratch, "other"))
        other.start()
        other.join(10)
        reader_then_writer.execute(text("INSERT INTO item (name) VALUES ('mine')"))
    with Session(scratch) as check:
        names = check.execute(text("SELECT name FROM item ORDER BY id")).scalars().all()
    assert names == ["other", "mine"]


def _insert(engine: Engine, name: str) -> None:
    with unit_of_work(engine, write=False) as session:
        session.execute(text("INSERT INTO item (name) VALUES (:n)"), {"n": name})


def test_readers_never_wait_for_the_writer(scratch: Engine) -> None:
    with unit_of_work(scratch, write=False) as writer:
        writer.execute(text("INSERT INTO item (name) VALUES ('pending')"))  # holds the gate
        result: list[int] = []
        reader = threading.Thread(
            target=lambda: result.append(_count(scratch)),
        )
        started = time.monotonic()
        reader.start()
        reader.join(10)
        assert result == [0]  # the uncommitted row is invisible, and nobody waited
        assert time.monotonic() - started < 2


def _count(engine: Engine) -> int:
    with unit_of_work(engine, write=False) as session:
        return int(session.execute(text("SELECT count(*) FROM item")).scalar_one())


def test_a_unit_that_opens_a_second_write_transaction_fails_at_once(scratch: Engine) -> None:
    # given a job whose own session has written and not committed
    with unit_of_work(scratch, write=False) as outer:
        outer.execute(text("INSERT INTO item (name) VALUES ('outer')"))
        # when it opens another write transaction in the same thread, it is told at once
        started = time.monotonic()
        with pytest.raises(Exception) as raised, unit_of_work(scratch) as inner:
            inner.execute(text("INSERT INTO item (name) VALUES ('inner')"))
        assert isinstance(getattr(raised.value, "orig", raised.value), WriteGateSelfDeadlock)
        assert "would wait on itself" in str(raised.value)
        assert time.monotonic() - started < 2
    assert _count(scratch) == 1


def test_a_wait_longer_than_the_bound_fails_naming_the_holder(
    scratch: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_db, "GATE_WAIT_SECONDS", 0.3)
    held = threading.Event()
    done = threading.Event()

    def slow_holder() -> None:
        with unit_of_work(scratch, write=False) as session:
            session.execute(text("INSERT INTO item (name) VALUES ('slow')"))
            held.set()
            done.wait(10)

    holder = threading.Thread(target=slow_holder)
    holder.start()
    held.wait(10)
    try:
        with pytest.raises(Exception) as raised, unit_of_work(scratch) as waiting:
            waiting.execute(text("INSERT INTO item (name) VALUES ('waiting')"))
        orig = getattr(raised.value, "orig", raised.value)
        assert isinstance(orig, WriteGateTimeout)
        message = str(orig)
        assert "s for the database write lock" in message
        assert "slow_holder" in message and "INSERT INTO item" in message
        assert "database is locked" not in message
    finally:
        done.set()
        holder.join(10)
    assert _count(scratch) == 1


def test_a_write_lock_held_too_long_in_tests_is_recorded(
    scratch: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_db, "HOLD_WARN_SECONDS", 0.05)
    monkeypatch.setattr(store_db, "HOLD_FAIL_SECONDS", 0.1)
    with unit_of_work(scratch, write=False) as session:
        session.execute(text("INSERT INTO item (name) VALUES ('slow')"))
        time.sleep(0.2)
    found, store_db.violations[:] = list(store_db.violations), []
    assert len(found) == 1 and "test_gate.py" in found[0] and "was held for" in found[0]


def test_an_outside_call_under_the_write_lock_fails_in_tests(scratch: Engine) -> None:
    assert_no_write_lock("a call to Stripe")  # no transaction: fine
    with unit_of_work(scratch, write=False) as session:
        session.execute(text("SELECT count(*) FROM item"))
        assert_no_write_lock("a call to Stripe")  # only read: fine
        session.execute(text("INSERT INTO item (name) VALUES ('x')"))
        with pytest.raises(WriteLockMisuse, match="a call to Stripe inside a write transaction"):
            assert_no_write_lock("a call to Stripe")
        session.rollback()
    store_db.violations.clear()


def test_savepoints_and_read_modify_write_units_take_the_gate(scratch: Engine) -> None:
    gate = gate_for(os.path.abspath(str(scratch.url.database)))
    with unit_of_work(scratch, write=False) as session:
        session.execute(text("SELECT 1"))
        assert gate.holder is None
        with session.begin_nested():
            session.execute(text("SELECT 2"))  # the SAVEPOINT is said here, and takes the gate
            assert gate.holder is not None and "SAVEPOINT" in gate.holder.statement
    assert gate.holder is None
    with unit_of_work(scratch) as session:
        session.execute(text("SELECT 1"))
        assert gate.holder is not None and gate.holder.statement == "BEGIN IMMEDIATE"
    assert gate.holder is None


@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("SELECT * FROM item", "read"),
        ("  select 1", "read"),
        ("PRAGMA journal_mode=WAL", "read"),
        ("WITH x AS (SELECT 1) SELECT * FROM x", "read"),
        ("WITH x AS (SELECT 1) INSERT INTO item (name) SELECT 'a' FROM x", "write"),
        ("INSERT INTO item VALUES (1)", "write"),
        ("UPDATE item SET name = 'a'", "write"),
        ("DELETE FROM item", "write"),
        ("SAVEPOINT sa_savepoint_1", "write"),
        ("CREATE TABLE t (id INTEGER)", "write"),
        ("/* note */ -- and this\n DELETE FROM item", "write"),
        ("BEGIN", "begin"),
        ("begin immediate", "begin"),
        ("COMMIT", "other"),
        ("RELEASE SAVEPOINT sa_savepoint_1", "other"),
        ("VACUUM", "solo"),
    ],
)
def test_statement_kinds(sql: str, kind: str) -> None:
    assert statement_kind(sql) == kind


# --- between processes: the file lock ------------------------------------------------------------

HOLD_SCRIPT = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
"""


def _hold_in_other_process(path: str, seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_SCRIPT, path, str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_another_process_holding_the_lock_is_waited_for_and_a_crashed_one_lets_go(scratch: Engine) -> None:
    lock_file = os.path.abspath(str(scratch.url.database)) + "-writegate"
    # given another process on the machine holds the write lock and then dies (SIGKILL)
    other = _hold_in_other_process(lock_file, 60)
    killer = threading.Timer(0.5, lambda: os.kill(other.pid, signal.SIGKILL))
    killer.start()
    # when this process writes, it waits, and gets the lock when the holder dies
    started = time.monotonic()
    _insert(scratch, "after the crash")
    assert 0.3 < time.monotonic() - started < 10
    other.wait(10)
    assert _count(scratch) == 1


def test_a_process_that_never_lets_go_makes_a_clear_error(
    scratch: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_db, "GATE_WAIT_SECONDS", 0.3)
    lock_file = os.path.abspath(str(scratch.url.database)) + "-writegate"
    other = _hold_in_other_process(lock_file, 3)
    try:
        with pytest.raises(Exception) as raised:
            _insert(scratch, "never")
        assert "another process on this machine" in str(raised.value)
        # and once it has gone, the next write goes through (the late lock was not kept by nobody)
        other.wait(10)
        _insert(scratch, "later")
        assert _count(scratch) == 1
    finally:
        other.kill()
        other.wait()
