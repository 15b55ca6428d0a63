"""The SQLite job queue (store/jobs.py) under many writers: every job queued once, none lost, no lock errors."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
from huey import Huey

from store.jobs import GatedSqliteStorage

pytestmark = [pytest.mark.no_db, pytest.mark.slow]

ENQUEUE = """
import sys
from huey import Huey
from store.jobs import GatedSqliteStorage
q = Huey("t", storage_class=GatedSqliteStorage, filename=sys.argv[1], timeout=0)
for n in range(int(sys.argv[2])):
    q.storage.enqueue(f"{sys.argv[3]}-{n}".encode())
"""


def test_two_processes_and_eight_threads_queue_while_a_worker_takes(tmp_path: Path) -> None:
    # SQLite's busy timeout is 0 here: any wait that is not at the gate would fail at once.
    path = str(tmp_path / "jobs.db")
    queue = Huey("t", storage_class=GatedSqliteStorage, filename=path, timeout=0)
    taken: list[bytes] = []
    done = threading.Event()

    def worker() -> None:
        while not done.is_set() or queue.storage.queue_size():
            item = queue.storage.dequeue()
            if item is not None:
                taken.append(bytes(item))

    def enqueue(name: str) -> None:
        for n in range(100):
            queue.storage.enqueue(f"{name}-{n}".encode())

    # given a worker taking jobs, when two other processes and eight threads queue 1,000 jobs at once
    taker = threading.Thread(target=worker)
    taker.start()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", ENQUEUE, path, "100", f"p{i}"], stderr=subprocess.PIPE, text=True
        )
        for i in range(2)
    ]
    threads = [threading.Thread(target=enqueue, args=(f"t{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    errors = [p.communicate(timeout=60)[1] for p in procs]
    done.set()
    taker.join(60)

    # then each job was taken exactly once and nobody saw a lock error
    assert [p.returncode for p in procs] == [0, 0], errors
    expected = {
        f"{name}-{n}".encode() for name in [*(f"t{i}" for i in range(8)), "p0", "p1"] for n in range(100)
    }
    assert len(taken) == 1000 and set(taken) == expected
