"""Real `storefront serve --workers 2` and `storefront worker` processes for the hammer tests.

They use the suite's own database (SQLite file or PostgreSQL) and settings, so a test arranges and
checks rows through its `db` fixture while the processes do the work. Each process runs in its own
process group and writes its log to a file the test reads afterwards ("database is locked",
tracebacks). Everything started here is stopped here.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[3]


@dataclass
class Stack:
    base_url: str
    logs: list[Path] = field(default_factory=list)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def log_text(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.logs if p.exists())


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@contextmanager
def running_stack(
    workdir: Path, *, web_workers: int = 2, job_worker: bool = False, env: dict[str, str] | None = None
) -> Iterator[Stack]:
    """`serve --workers N` (and optionally one `worker`) on a free loopback port, until the block ends."""
    port = free_port()
    stack = Stack(base_url=f"http://127.0.0.1:{port}")
    full_env = {**os.environ, **(env or {}), "PYTHONPATH": str(ROOT)}
    workdir.mkdir(parents=True, exist_ok=True)

    def start(name: str, *args: str) -> None:
        log = workdir / f"{name}.log"
        stack.logs.append(log)
        with open(log, "wb") as out:
            stack.procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "store.cli", *args],
                    cwd=workdir,
                    env=full_env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )

    try:
        start("serve", "serve", "--port", str(port), "--workers", str(web_workers))
        if job_worker:
            start("worker", "worker", "--workers", "2")
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{stack.base_url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or stack.procs[0].poll() is not None:
                raise RuntimeError("the server did not start:\n" + stack.log_text()[-3000:])
            time.sleep(0.2)
        yield stack
    finally:
        _stop(stack.procs)
