"""Engine and the unit of work: one session per request or job, committed once by its owner.

SQLite writes: the write gate
=============================
SQLite has one writer at a time. Left to itself, it makes waiters poll (busy_timeout sleeps 1, 2, 5 …
100 ms and tries again), so under load a few unlucky writers wait for seconds while later ones get
in; and a transaction that read first and then writes cannot wait at all: if anyone committed since
its read, SQLite refuses the upgrade at once with "database is locked" (SQLITE_BUSY_SNAPSHOT). Both
were measured (issue 11: add-to-cart p99 1.7 s; staff logins failing with a reset connection).

So on SQLite, every write goes through a gate, taken by the DB-API connection itself
(`GatedConnection`, installed with `connect_args={"factory": …}`), which covers every path at once —
requests, jobs, the CLI, Alembic, tests — without auditing call sites:

* **Reads take no lock and no transaction.** A session that has not written runs each SELECT on its
  own (autocommit, as Django does by default), so it sees the latest commit at every statement:
  the same READ COMMITTED view PostgreSQL gives, which the code must already be correct under.
* **The first write takes the gate, then `BEGIN IMMEDIATE`.** Just before the first INSERT,
  UPDATE, DELETE, SAVEPOINT, DDL … the connection waits at the gate and begins an IMMEDIATE
  transaction; it holds both until COMMIT or ROLLBACK. A transaction that has the write lock from its
  BEGIN always sees the latest data, so it can never hit SQLITE_BUSY_SNAPSHOT.
* **Read-modify-write from the start** (`unit_of_work(write=True)`, the request's `WriteDb`) emits
  `BEGIN IMMEDIATE` at the session's first statement, for units whose reads must be inside the write
  transaction: carts, checkout, claims of jobs and webhook events.
* **The gate is fair and wakes waiters directly.** In a process, a FIFO queue: each waiter sleeps on
  its own lock and the releaser hands the gate to the oldest one (no polling, no barging). Between
  processes on the machine (two `serve` workers, `worker`s, the CLI), an exclusive `flock` on a file
  beside the database: waiters sleep in the kernel and wake at release, and a crashed holder releases
  it automatically. Only a process's gate holder waits on the file lock, so SQLite's own lock is
  never contended among our processes; busy_timeout stays as the guard against outside writers
  (the sqlite3 shell, a backup tool).
* **Not thread-owned.** FastAPI runs a sync dependency's setup, the handler and the teardown in
  different pool threads, so a request may take the gate in one thread and commit in another.
* **Add to cart writes from the event loop on SQLite** (`run_writing_unit`): the loop waits at the
  gate for at most 2 ms, else a worker thread runs the add again, waits, writes and commits. On a
  busy 2-core machine that is half the CPU of a sync handler and its thread hops, and the lock holder
  has no thread to share the GIL with (wrk, same run: 462 → 1,396 adds a second; bench/README.md).
  The unit is synchronous, so nothing can `await` between its first write and its commit; a blocking
  wait on the loop's thread for a holder suspended there is refused at once (`WriteGateSelfDeadlock`).
* **Checkpoints are not a writer's job.** SQLite's automatic checkpoint would run inside the commit
  that crosses 1,000 pages of WAL, copying and syncing while every writer queues behind the gate
  (the cart-add p99 of 100–800 ms); a thread per process checkpoints instead (`Checkpointer`).

Why not simply `BEGIN IMMEDIATE` for every request (what this module did for carts): a page that
reads for 20 ms and writes nothing would hold every writer in the machine for those 20 ms, and a
request that writes late would hold the lock for its whole duration. Why not retry on
SQLITE_BUSY_SNAPSHOT: a retry re-runs the handler (emails, calls outside) and is still unfair.

Mistakes are made loud, not slow:
* a second write transaction opened by the same request or job while it already holds the gate (it
  would wait on itself forever) raises `WriteGateSelfDeadlock` at once;
* waiting longer than `GATE_WAIT_SECONDS` raises `WriteGateTimeout`, naming the holder (where it
  took the gate, its first statement, for how long) and is logged;
* a write transaction held longer than `HOLD_WARN_SECONDS` is logged with the same details, and in
  the test environment longer than `HOLD_FAIL_SECONDS` is recorded as a violation the suite fails on;
* `assert_no_write_lock(what)` at an outside call (Stripe, the print provider) fails in tests, and
  logs an error elsewhere, when the caller holds the write lock ("no outside call inside a write
  transaction").

PostgreSQL needs none of this: row locks, READ COMMITTED, many writers at once. Its pool is sized for
FastAPI's thread pool (40 threads per process) so a rush does not wait for a pooled connection.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import fcntl
import json
import logging
import os
import re
import sqlite3
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from anyio import to_thread
from sqlalchemy import bindparam, event, insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import SessionTransaction
from sqlmodel import Session, create_engine

from store.config import Settings, get_settings

log = logging.getLogger("store.db")
T = TypeVar("T")

SQLITE_BEGIN_OPTION = "storefront_sqlite_begin"
GATE_WAIT_SECONDS = 15.0  # far beyond any honest queue: only a wait on itself or a slow holder gets here
HOLD_WARN_SECONDS = 1.0
HOLD_FAIL_SECONDS = 5.0  # test environment only: generous, so a busy CI machine does not flake
# How long `run_writing_unit` may wait for the gate on the event loop: a few adds to cart (~0.3 ms each)
# ahead of it; a longer holder (a checkout) is waited for on a worker thread instead.
LOOP_WAIT_SECONDS = 0.002
CHECKPOINT_EVERY = 256  # writes of a process between two checkpoints of the WAL (see Checkpointer)
# FastAPI runs sync handlers on 40 threads; one request may hold two sessions (its own and a short
# unit of work), jobs add a few. SQLite connections are cheap; PostgreSQL ones count against its
# max_connections (100 by default), so there the steady pool is smaller and the rest is overflow.
SQLITE_POOL = {"pool_size": 20, "max_overflow": 60, "pool_timeout": 30}
POSTGRES_POOL = {"pool_size": 10, "max_overflow": 30, "pool_timeout": 30}


class WriteGateError(sqlite3.OperationalError):
    """The write gate refused: a programming mistake or a stuck holder, never ordinary load."""


class WriteGateTimeout(WriteGateError):
    pass


class WriteGateSelfDeadlock(WriteGateError):
    pass


class WriteLockMisuse(RuntimeError):
    """Slow work (an outside call) inside a write transaction; raised in the test environment."""


# --- who is asking: the request or job (a "unit"), for self-deadlock checks ----------------------

_unit: ContextVar[object | None] = ContextVar("storefront_write_unit", default=None)
_thread_unit = threading.local()


def current_unit() -> object:
    """The request (set by `WriteUnitMiddleware`) or else the thread (jobs, CLI, tests)."""
    unit = _unit.get()
    if unit is not None:
        return unit
    found = getattr(_thread_unit, "unit", None)
    if found is None:
        found = _thread_unit.unit = object()
    return found


class WriteUnitMiddleware:
    """Marks each HTTP request as one unit, across the thread-pool hops FastAPI makes for it."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":

            async def receive_and_report() -> Any:
                message = await receive()
                if message.get("type") == "lifespan.shutdown":
                    _print_gate_stats()  # uvicorn's workers end by their signal: no atexit there
                return message

            await self.app(scope, receive_and_report, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = _unit.set(object())
        try:
            await self.app(scope, receive, send)
        finally:
            _unit.reset(token)


_long_write: ContextVar[str] = ContextVar("storefront_long_write", default="")


@contextmanager
def allow_long_write(reason: str) -> Iterator[None]:
    """For work that must hold the write lock a long time on purpose (migrations, loading demo data)."""
    token = _long_write.set(reason)
    try:
        yield
    finally:
        _long_write.reset(token)


# --- the gate ------------------------------------------------------------------------------------


class FifoGate:
    """A lock granted strictly in arrival order, releasable from any thread.

    Each waiter sleeps on its own pre-locked lock; `release` hands the gate to the oldest waiter by
    unlocking that one (the gate never becomes free in between, so nobody can barge in)."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._held = False
        self._waiters: deque[threading.Lock] = deque()

    def acquire(self, timeout: float | None = None) -> bool:
        with self._mutex:
            if not self._held:
                self._held = True
                return True
            mine = threading.Lock()
            mine.acquire()
            self._waiters.append(mine)
        if mine.acquire(timeout=-1 if timeout is None else max(timeout, 0)):
            return True
        with self._mutex:
            try:
                self._waiters.remove(mine)
            except ValueError:  # handed over between the timeout and now: it is ours
                return True
        return False

    def try_acquire(self) -> bool:
        with self._mutex:
            if self._held:
                return False
            self._held = True
            return True

    def release(self) -> None:
        with self._mutex:
            if not self._held:
                raise RuntimeError("release of a gate that is not held")
            if self._waiters:
                self._waiters.popleft().release()
            else:
                self._held = False

    @property
    def waiting(self) -> int:
        return len(self._waiters)


class FileLock:
    """An exclusive `flock` on one file, shared by every process on the machine.

    Only one thread per process asks at a time (the holder of that process's FifoGate). When the
    lock is taken, a helper thread sleeps in the kernel's `flock` and hands it over on arrival, so
    the asker can stop waiting after a timeout; a lock that arrives for nobody is let go at once."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        self._mutex = threading.Lock()
        self._kick = threading.Semaphore(0)
        self._waiter: threading.Lock | None = None
        self._helper_busy = False
        self._helper: threading.Thread | None = None

    def acquire(self, timeout: float | None = None) -> bool:
        mine = threading.Lock()
        mine.acquire()
        with self._mutex:
            # Not while the helper still waits in the kernel for an asker that gave up: its flock on
            # this same open file would succeed as soon as ours did, and it would then let ours go.
            if not self._helper_busy and self._try_flock():
                return True
            self._waiter = mine
            if not self._helper_busy:
                self._helper_busy = True
                if self._helper is None:
                    helper = threading.Thread(target=self._wait_in_kernel, name="write-gate", daemon=True)
                    helper.start()
                    self._helper = helper
                self._kick.release()
        if mine.acquire(timeout=-1 if timeout is None else max(timeout, 0)):
            return True
        with self._mutex:
            if self._waiter is mine:
                self._waiter = None  # the helper lets it go when it arrives
                return False
        return True  # handed over just now

    def try_acquire(self) -> bool:
        with self._mutex:
            return not self._helper_busy and self._try_flock()

    def _try_flock(self) -> bool:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

    def _wait_in_kernel(self) -> None:
        while True:
            self._kick.acquire()
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            with self._mutex:
                self._helper_busy = False
                waiter, self._waiter = self._waiter, None
                if waiter is None:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)
                else:
                    waiter.release()

    def release(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close_after_fork(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)


@dataclass
class Holder:
    unit: object
    since: float
    where: str
    statement: str
    thread: str
    long_reason: str
    ident: int = 0  # the thread's id: on an event loop's thread, another unit holding it is suspended

    def describe(self) -> str:
        held = time.monotonic() - self.since
        why = f", allowed: {self.long_reason}" if self.long_reason else ""
        return (
            f"held for {held:.1f} s by {self.where} (thread {self.thread}), "
            f"first statement {self.statement!r}{why}"
        )


@dataclass
class GateStats:
    """How the gate is used, for `STORE_GATE_STATS=1` (one line on stderr at exit) and benchmarks."""

    writes: int = 0
    waited: float = 0.0
    longest_wait: float = 0.0
    held: float = 0.0
    longest_hold: float = 0.0
    by_place: dict[str, list[float]] = field(default_factory=dict)  # where -> [count, seconds held]

    def summary(self) -> dict[str, Any]:
        n = max(self.writes, 1)
        top = sorted(self.by_place.items(), key=lambda kv: -kv[1][1])[:8]
        return {
            "writes": self.writes,
            "wait_ms_mean": round(self.waited / n * 1000, 2),
            "wait_ms_max": round(self.longest_wait * 1000, 1),
            "hold_ms_mean": round(self.held / n * 1000, 2),
            "hold_ms_max": round(self.longest_hold * 1000, 1),
            "hold_by_place": {k: [int(c), round(t / c * 1000, 2)] for k, (c, t) in top},
        }


class WriteGate:
    """The FIFO gate of this process, then the file lock of the machine, then SQLite's own lock."""

    def __init__(self, lock_path: str | None, database: str | None = None) -> None:
        self.database = database  # the SQLite file the gate stands in front of (None: in memory)
        self.fifo = FifoGate()
        self.file = FileLock(lock_path) if lock_path else None
        self.holder: Holder | None = None
        self.stats = GateStats()

    def acquire(self, *, statement: str, wait: float | None = None, where: str = "") -> Holder:
        wait = GATE_WAIT_SECONDS if wait is None else wait
        unit = current_unit()
        self._refuse_waiting_on_self(unit, statement)
        started = time.monotonic()
        if not self.fifo.acquire(wait):
            raise self._timeout(statement, started)
        if self.file is not None:
            left = wait - (time.monotonic() - started)
            if not self.file.acquire(left):
                self.fifo.release()
                raise self._timeout(statement, started, other_process=True)
        return self._held_by(unit, statement, started, where)

    def try_acquire(self, *, statement: str, wait: float = 0.0) -> Holder | None:
        """The gate within `wait` seconds (0: now, and only if nobody holds it or waits for it), or
        None, quietly. Never waits for a holder on this thread (see `_refuse_waiting_on_self`), nor
        behind others already queued in this process: each of them may hold it for milliseconds (a
        checkout, a payment), so the short wait would be spent for nothing (bench/rush.py: the event
        loop stood 8 % of its time in such waits during a rush, every page behind it waiting too)."""
        unit = current_unit()
        if self._waiting_on_self(unit):
            return None
        if self.fifo.waiting:
            wait = 0.0
        started = time.monotonic()
        if not (self.fifo.acquire(wait) if wait > 0 else self.fifo.try_acquire()):
            return None
        if self.file is not None:
            left = wait - (time.monotonic() - started)
            if not (self.file.acquire(left) if left > 0 else self.file.try_acquire()):
                self.fifo.release()
                return None
        return self._held_by(unit, statement, started, "")

    def _waiting_on_self(self, unit: object) -> str:
        """Why waiting for the gate now would wait on itself, or "" when it would not."""
        holder = self.holder
        if holder is None:
            return ""
        if holder.unit is unit:
            return "already holds the database write lock through another session"
        if holder.ident == threading.get_ident() and _on_event_loop():
            # Another request on this event loop's thread holds it: an async handler that awaited
            # while holding the lock. Waiting here would block the loop that holder needs to finish.
            # (On a pool thread the same ident is harmless: a sync dependency or a handler that left
            # its transaction to be committed or rolled back by another thread.)
            return "is on the thread of a holder that is suspended (an await inside a write transaction)"
        return ""

    def _refuse_waiting_on_self(self, unit: object, statement: str) -> None:
        why = self._waiting_on_self(unit)
        if not why:
            return
        holder = self.holder
        assert holder is not None
        message = (
            f"write gate: this request or job {why} and would wait on itself ({holder.describe()}). "
            "Do its writes in one session, commit before opening another, and never await between "
            f"the first write and the commit (statement {statement[:80]!r} at {_caller()})."
        )
        log.error(message)
        raise WriteGateSelfDeadlock(message)

    def _held_by(self, unit: object, statement: str, started: float, where: str) -> Holder:
        now = time.monotonic()
        self.stats.writes += 1
        self.stats.waited += now - started
        self.stats.longest_wait = max(self.stats.longest_wait, now - started)
        self.holder = Holder(
            unit=unit,
            since=now,
            where=where or _caller(),
            statement=statement[:120],
            thread=threading.current_thread().name,
            long_reason=_long_write.get(),
            ident=threading.get_ident(),
        )
        return self.holder

    def release(self) -> None:
        holder, self.holder = self.holder, None
        if self.database is not None and self.stats.writes % CHECKPOINT_EVERY == 0:
            checkpoint_soon(self.database)
        if holder is not None:  # counted while still holding the gate, so the counts need no lock
            held = time.monotonic() - holder.since
            self.stats.held += held
            self.stats.longest_hold = max(self.stats.longest_hold, held)
            place = self.stats.by_place.setdefault(holder.where, [0, 0.0])
            place[0] += 1
            place[1] += held
        try:
            if self.file is not None:
                self.file.release()
        finally:
            self.fifo.release()
        if holder is not None:
            _check_hold(holder)

    def _timeout(self, statement: str, started: float, *, other_process: bool = False) -> WriteGateTimeout:
        waited = time.monotonic() - started
        holder = self.holder
        by = (
            "another process on this machine"
            if other_process
            else (holder.describe() if holder else "a holder that has just left")
        )
        message = (
            f"write gate: waited {waited:.1f} s for the database write lock, {by}; "
            f"{self.fifo.waiting} more waiting. Something holds a write transaction open too long "
            "(an outside call or slow work after its first write?) or a unit of work waits on itself. "
            f"Waiting: {statement[:80]!r} at {_caller()}."
        )
        log.error(message)
        return WriteGateTimeout(message)


def _on_event_loop() -> bool:
    """This thread is running an asyncio event loop (a request's coroutine called us)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


violations: list[str] = []  # the test environment's record; tests/conftest.py fails a test on any


def _check_hold(holder: Holder) -> None:
    held = time.monotonic() - holder.since
    if held < HOLD_WARN_SECONDS or holder.long_reason:
        return
    message = f"write lock {holder.describe().replace('held for', 'was held for', 1)}"
    log.warning(message)
    if held >= HOLD_FAIL_SECONDS and get_settings().env == "test":
        violations.append(message)


_ROOT = Path(__file__).resolve().parent.parent
_OUR_CODE = tuple(str(_ROOT / part) + os.sep for part in ("store", "catalog", "tests", "bench"))


def _caller() -> str:
    """The innermost frame of our own code outside this module: where a write began."""
    frame: Any = sys._getframe(1)
    here = __file__
    while frame is not None:
        name = frame.f_code.co_filename
        if name != here and name.startswith(_OUR_CODE):
            return f"{os.path.relpath(name, _ROOT)}:{frame.f_lineno} {frame.f_code.co_name}"
        frame = frame.f_back
    return "?"


_gates: dict[str, WriteGate] = {}
_gates_mutex = threading.Lock()


def gate_for(database: str) -> WriteGate:
    gate = _gates.get(database)
    if gate is None:
        with _gates_mutex:
            gate = _gates.get(database)
            if gate is None:
                on_disk = database not in ("", ":memory:")
                lock_path = f"{database}-writegate" if on_disk else None
                gate = _gates[database] = WriteGate(lock_path, database if on_disk else None)
    return gate


def _forget_gates_after_fork() -> None:
    # A child must not share its parent's file lock (flock belongs to the open file): start afresh.
    # Nor its checkpoint thread, which did not come across the fork.
    global _checkpointer
    _checkpointer = Checkpointer()
    for gate in _gates.values():
        if gate.file is not None:
            gate.file.close_after_fork()
    _gates.clear()
    global _gates_mutex
    _gates_mutex = threading.Lock()


os.register_at_fork(after_in_child=_forget_gates_after_fork)


def _print_gate_stats() -> None:
    if os.environ.get("STORE_GATE_STATS") == "1":
        for name, gate in list(_gates.items()):
            if gate.stats.writes:
                line = {"gate": os.path.basename(name), "pid": os.getpid(), **gate.stats.summary()}
                print(json.dumps(line), file=sys.stderr, flush=True)
                gate.stats = GateStats()


atexit.register(_print_gate_stats)


# --- WAL checkpoints, off the write path -----------------------------------------------------------


class Checkpointer:
    """Copies the WAL back into the database file in a thread of its own, one per process.

    SQLite's automatic checkpoint runs inside the COMMIT that crosses 1,000 pages of WAL: that commit
    copies ~4 MB and syncs the file while still holding our write gate, so every writer queued behind
    it waits (bench/rush.py: add-to-cart p99 from 27 ms to over 100 ms, now and then 800 ms). So
    connections turn it off (`wal_autocheckpoint=0`) and every `CHECKPOINT_EVERY` writes the gate
    asks this thread for a PASSIVE checkpoint, which runs beside readers and writers without waiting
    for either. SQLite still checkpoints when the last connection to a database closes."""

    def __init__(self) -> None:
        self._wanted: deque[str] = deque()
        self._mutex = threading.Lock()
        self._kick = threading.Event()
        self._thread: threading.Thread | None = None
        self.done = 0  # checkpoints run, for tests

    def soon(self, database: str) -> None:
        with self._mutex:
            if database not in self._wanted:
                self._wanted.append(database)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)
                self._thread.start()
        self._kick.set()

    def _run(self) -> None:
        while True:
            self._kick.wait()
            self._kick.clear()
            while True:
                with self._mutex:
                    if not self._wanted:
                        break
                    database = self._wanted.popleft()
                try:
                    with contextlib.closing(sqlite3.connect(database, timeout=30)) as conn:
                        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.done += 1
                except sqlite3.Error:  # the next one catches up; a database removed meanwhile is fine
                    log.warning("WAL checkpoint failed", extra={"database": database}, exc_info=True)


_checkpointer = Checkpointer()


def checkpoint_soon(database: str) -> None:
    _checkpointer.soon(database)


class GateBusy(Exception):
    """The SQLite write gate was not free within the wait allowed (nothing was written)."""


def commit_writes(session: Session, writes: Callable[[], T], *, wait: float | None = None) -> T:
    """Run `writes()` (the unit's last statements, its reads done) under the write lock, then commit:
    its answer, or its exception (then the caller's unit rolls back). On SQLite the gate is waited for
    at most `wait` seconds (None: as long as it takes), else GateBusy and nothing written."""
    if session.get_bind().dialect.name == "sqlite":  # else no connection is taken before `writes` wants one
        raw = session.connection().connection.driver_connection
        where = "" if wait is not None else _caller()  # for the gate's statistics; costs a stack walk
        if isinstance(raw, GatedConnection) and not raw.begin_write(wait=wait, where=where):
            raise GateBusy()
    result = writes()
    session.commit()
    return result


async def run_writing_unit(unit: Callable[[float | None], T], *, engine: Engine | None = None) -> T:
    """For the async handler that writes (add to cart): `unit(wait)` is its whole unit of work, reads
    and then `commit_writes(..., wait=wait)`; its answer, or its exception.

    It runs on the event loop itself: on a busy 2-core machine that is less CPU than a hop to the
    thread pool and back, and the lock holder has no thread to share the GIL with (bench/rush.py; on
    PostgreSQL a worker thread halved the adds a second, 1,884 → 848 with wrk, and slowed the rush's
    cached pages too, as more threads wanted the GIL). On SQLite the loop waits for the gate at most
    `LOOP_WAIT_SECONDS` (a few adds to cart ahead of it; not at all when others of this process are
    already queued: `WriteGate.try_acquire`), since waiting there stops every request of the
    process; if the gate is busy for longer (a checkout holds it), the unit runs again, whole, in a
    worker thread that waits as long as it takes. (A worker that only waited and handed back to the
    loop held the lock until the loop got round to it: 1.1 ms a hold instead of 0.4.) On PostgreSQL
    the add is one round trip for a new visitor (store/cart/service.py), so the loop waits little."""
    gated = (engine or get_engine()).dialect.name == "sqlite"
    try:
        return unit(LOOP_WAIT_SECONDS if gated else None)
    except GateBusy:
        return await to_thread.run_sync(unit, None)


def holds_write_lock() -> bool:
    """True when the current request or job holds a SQLite write transaction open."""
    unit = current_unit()
    return any(g.holder is not None and g.holder.unit is unit for g in list(_gates.values()))


def assert_no_write_lock(what: str) -> None:
    """Call before an outside call (Stripe, the print provider): it must never run under the lock."""
    if not holds_write_lock():
        return
    message = f"{what} inside a write transaction: record the intent and commit first ({_caller()})"
    log.error(message)
    if get_settings().env == "test":
        violations.append(message)
        raise WriteLockMisuse(message)


# --- the DB-API connection that uses the gate ----------------------------------------------------

READ, WRITE, BEGIN, SOLO, OTHER = "read", "write", "begin", "solo", "other"
_DML = re.compile(r"\b(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)
_FIRST_WORD = re.compile(r"\s*(?:(?:--[^\n]*\n|/\*.*?\*/)\s*)*([A-Za-z]+)", re.DOTALL)


@lru_cache(maxsize=2048)
def statement_kind(sql: str) -> str:
    match = _FIRST_WORD.match(sql)
    word = match.group(1).upper() if match else ""
    if word in ("SELECT", "PRAGMA", "EXPLAIN", "VALUES"):
        return READ
    if word == "WITH":
        return WRITE if _DML.search(sql) else READ
    if word == "BEGIN":
        return BEGIN
    if word == "VACUUM":
        return SOLO  # writes, but may not run inside a transaction
    if word in ("COMMIT", "END", "ROLLBACK", "RELEASE", "ATTACH", "DETACH", ""):
        return OTHER
    return WRITE  # INSERT UPDATE DELETE REPLACE SAVEPOINT CREATE DROP ALTER ANALYZE REINDEX …


class GatedConnection(sqlite3.Connection):
    """sqlite3 connection in autocommit mode whose first write waits at the gate, then BEGIN IMMEDIATE."""

    def __init__(self, database: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(database, *args, **kwargs)
        self.isolation_level = None  # we say BEGIN ourselves (SQLAlchemy's documented pysqlite recipe)
        name = os.fsdecode(database)
        if name.startswith("file:"):  # a URI: the path before the query; mode=memory is private
            name = ":memory:" if "mode=memory" in name else name[5:].split("?", 1)[0]
        self._gate_key = name if name in ("", ":memory:") else os.path.abspath(name)
        self._holding = False

    # Every way in goes through GatedCursor (sqlite3.Connection.execute would make a plain cursor).
    def cursor(self, factory: Any = None) -> Any:
        return super().cursor(factory or GatedCursor)

    def execute(self, sql: str, parameters: Any = (), /) -> Any:
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Any, /) -> Any:
        return self.cursor().executemany(sql, parameters)

    def executescript(self, script: str, /) -> Any:
        return self.cursor().executescript(script)

    def _before(self, sql: str) -> str:
        """Called before each statement; returns the statement to run."""
        if self._holding:
            return "BEGIN IMMEDIATE" if statement_kind(sql) == BEGIN else sql
        kind = statement_kind(sql)
        if kind in (READ, OTHER):
            return sql
        gate_for(self._gate_key).acquire(statement=sql)
        self._holding = True
        if kind == BEGIN:
            return "BEGIN IMMEDIATE"
        if kind == SOLO:
            return sql  # released after it, as it leaves no transaction open
        try:
            if not self.in_transaction:
                sqlite3.Cursor(self).execute("BEGIN IMMEDIATE")
        except BaseException:
            self._release()
            raise
        return sql

    def begin_write(self, *, wait: float | None, where: str = "") -> bool:
        """Take the gate and BEGIN IMMEDIATE now, ahead of the first write: waiting up to `wait`
        seconds (False, and nothing taken, if that was not enough) or, with None, as long as it takes."""
        if self._holding:
            return True
        gate = gate_for(self._gate_key)
        statement = "BEGIN IMMEDIATE (begin_write)"
        if wait is None:
            gate.acquire(statement=statement, where=where)
        elif gate.try_acquire(statement=statement, wait=wait) is None:
            return False
        self._holding = True
        try:
            sqlite3.Cursor(self).execute("BEGIN IMMEDIATE")
        except BaseException:
            self._release()
            raise
        return True

    def _after(self) -> None:
        if self._holding and not self.in_transaction:
            self._release()

    def _release(self) -> None:
        self._holding = False
        gate_for(self._gate_key).release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._after()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._after()

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self._holding:
                self._release()


class GatedCursor(sqlite3.Cursor):
    connection: GatedConnection

    def execute(self, sql: str, parameters: Any = (), /) -> Any:
        conn = self.connection
        sql = conn._before(sql)
        try:
            return super().execute(sql, parameters)
        finally:
            conn._after()

    def executemany(self, sql: str, parameters: Any, /) -> Any:
        conn = self.connection
        sql = conn._before(sql)
        try:
            return super().executemany(sql, parameters)
        finally:
            conn._after()

    def executescript(self, script: str, /) -> Any:
        # A script may hold anything: it runs under the gate, kept if it leaves a transaction open.
        conn = self.connection
        if not conn._holding:
            gate_for(conn._gate_key).acquire(statement=script)
            conn._holding = True
        try:
            return super().executescript(script)
        finally:
            conn._after()


# --- engines -------------------------------------------------------------------------------------


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30, "factory": GatedConnection},
            **SQLITE_POOL,  # type: ignore[arg-type]
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # WAL lets readers run beside the writer; busy_timeout only guards against writers
            # outside our processes (the sqlite3 shell, a backup tool): ours queue at the gate.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA wal_autocheckpoint=0")  # the Checkpointer does it, off the write path
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # Read-modify-write units take the lock at their first statement; the others begin
            # nothing here (reads run in autocommit) and the connection begins at the first write.
            if conn.get_execution_options().get(SQLITE_BEGIN_OPTION) == "IMMEDIATE":
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    engine = create_engine(url, **POSTGRES_POOL)  # type: ignore[arg-type]
    _ping_after_idle(engine)
    return engine


PING_AFTER_IDLE_SECONDS = 10.0


def _ping_after_idle(engine: Engine) -> None:
    """SQLAlchemy's `pool_pre_ping`, but only for a connection that sat in the pool a while.

    `pool_pre_ping` asks PostgreSQL "SELECT 1" at every checkout: one more round trip per request,
    measured at a third of add-to-cart's throughput (bench/rush.py). A connection that was in use a
    moment ago is alive; one idle for longer may have been cut (a restart, a proxy's idle timeout), so
    it is pinged, and a dead one is replaced before anyone sees it (SQLAlchemy's documented recipe:
    `DisconnectionError` from a checkout listener makes the pool retry with a new connection)."""

    @event.listens_for(engine, "checkin")
    def _note_checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("checked_in_at")
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            with contextlib.closing(dbapi_conn.cursor()) as cursor:
                cursor.execute("SELECT 1")
            dbapi_conn.rollback()
        except Exception as exc:
            raise DisconnectionError(f"a connection idle {time.monotonic() - since:.0f} s was dead") from exc


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    return _make_engine(url)


def get_engine(settings: Settings | None = None) -> Engine:
    return engine_for((settings or get_settings()).database_url)


@contextmanager
def unit_of_work(engine: Engine | None = None, *, write: bool = True) -> Iterator[Session]:
    """A transaction owned by its caller (a request or a job): commit once at the end, or roll back.

    `write=True` (read-modify-write): on SQLite the write lock is taken at the first statement, so
    every read is inside the write transaction (claims, counters, carts). Keep such units short.
    `write=False`: reads take no lock; the first write (if any) takes it, until the commit.
    """
    with new_session(engine, write=write) as session:
        try:
            yield session
            if has_work_to_commit(session):
                session.commit()
        except BaseException:
            session.rollback()
            raise


def has_work_to_commit(session: Session) -> bool:
    """An open transaction or unflushed changes. Otherwise (committed already, as add to cart does
    before answering, or never begun) a commit would begin and end an empty transaction, events and
    all, for nothing."""
    return session.in_transaction() or bool(session.new or session.dirty or session.deleted)


def new_session(engine: Engine | None = None, *, write: bool = True) -> Session:
    """The session a unit of work runs in (`write` as for `unit_of_work`); its owner commits it once."""
    bind = engine or get_engine()
    if write and bind.dialect.name == "sqlite":
        bind = bind.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
    return Session(bind, expire_on_commit=False)


def insert_unless_present(
    bind: Session | Connection, table: Any, *, unique: list[str], values: dict[str, Any]
) -> Any:
    """`INSERT … ON CONFLICT (unique) DO NOTHING` for SQLite and PostgreSQL: exactly one of any number
    of racing inserts goes in. Add `.returning(…)`: a duplicate returns no row."""
    from sqlalchemy.dialects import postgresql, sqlite

    name = bind.get_bind().dialect.name if isinstance(bind, Session) else bind.dialect.name
    dialect: Any = postgresql if name == "postgresql" else sqlite
    return dialect.insert(table).values(**values).on_conflict_do_nothing(index_elements=unique)


class DriverInsert:
    """A plain INSERT that SQLAlchemy compiles once and the DB-API cursor then runs as it is: for the
    one hot write that runs while every writer of the machine waits (a new visitor's add to cart on
    SQLite). Core's execute costs more than SQLite's own work there (the compiled-cache lookup, the
    bind processing, the result objects: ~45 % of the write lock's hold in a py-spy of wrk's adds);
    this skips it, and nothing else. The SQL is SQLAlchemy's for the table, each value goes through
    its column type's own bind processor, and it runs on the session's connection and transaction
    (on SQLite, through the gate like any statement). Measured: bench/README.md, stop 24."""

    def __init__(self, table: Any, columns: list[str], dialect: Any) -> None:
        compiled = insert(table).values({name: bindparam(name) for name in columns}).compile(dialect=dialect)
        self.sql = str(compiled)
        self.names = tuple(compiled.positiontup or ())
        assert sorted(self.names) == sorted(columns), (self.names, columns)  # one placeholder per column
        self.processors = tuple(
            table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in self.names
        )

    def run(self, session: Session, values: dict[str, Any]) -> int:
        """Insert one row in the session's transaction; its rowid (SQLite's integer primary key).
        Positional placeholders only: a dialect with named ones fails the assertion above."""
        params = [
            value if process is None else process(value)
            for process, value in zip(self.processors, (values[name] for name in self.names), strict=True)
        ]
        cursor = session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(self.sql, params)
            row_id: int = cursor.lastrowid
        finally:
            cursor.close()
        return row_id


# --- after-commit actions, scoped like the transactions they belong to ---------------------------

_ACTIONS = "storefront_after_commit"
_COMMITTED = "storefront_committed"


def on_commit(session: Session, action: Callable[[], Any]) -> None:
    """Run `action()` once, after the real (outermost) commit of this session's transaction.

    Registered inside a SAVEPOINT (`session.begin_nested()`), it belongs to that savepoint: dropped
    if the savepoint rolls back, handed to the enclosing transaction when it is released. Never run
    if the transaction rolls back. Side effects outside the database (queue pushes) go through here,
    so a rolled-back request never enqueues a job about rows that do not exist. Rows that must not
    be lost are written in the transaction too (an outbox), and a periodic sweep picks up any push
    that was lost.
    """
    trans = session.get_nested_transaction() or session.get_transaction() or session.begin()
    session.info.setdefault(_ACTIONS, {}).setdefault(trans, []).append(action)


@event.listens_for(Session, "after_commit")
def _mark_committed(session: Session) -> None:
    # Fires for the root commit and for each SAVEPOINT release, while that transaction is current.
    trans = session.get_nested_transaction() or session.get_transaction()
    if trans is not None and trans in session.info.get(_ACTIONS, {}):
        session.info.setdefault(_COMMITTED, set()).add(trans)


@event.listens_for(Session, "after_transaction_end")
def _settle_actions(session: Session, trans: SessionTransaction) -> None:
    pending: dict[SessionTransaction, list[Callable[[], Any]]] = session.info.get(_ACTIONS, {})
    actions = pending.pop(trans, None)
    committed = session.info.get(_COMMITTED, set())
    was_committed = trans in committed
    committed.discard(trans)
    if not actions:
        return
    parent = trans.parent
    if parent is not None:
        if trans.nested and not was_committed:
            return  # the savepoint rolled back: its actions go with it
        pending.setdefault(parent, []).extend(actions)  # released (or a subtransaction): to the parent
        return
    if not was_committed:
        return  # rolled back or closed without a commit
    for action in actions:
        try:
            action()
        except Exception:  # the sweep will retry; a failed push must not fail the request
            log.exception("after-commit action failed")
