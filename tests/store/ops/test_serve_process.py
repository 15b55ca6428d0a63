"""`storefront serve` as an operator runs it: metrics summed across worker processes, uvicorn's access
log as JSON lines, and `--demo` stopping what it started."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import free_port

pytestmark = [pytest.mark.slow, pytest.mark.no_db, pytest.mark.timeout(300)]


def start_serve(
    tmp_path: Path,
    *args: str,
    database_url: str | None = None,
    media_dir: str | None = None,
    port: int | None = None,
    launcher: tuple[str, ...] = ("-m", "store.cli"),
    **extra: str,
) -> tuple[subprocess.Popen[str], str]:
    """`storefront serve` in tmp_path (its var/ goes there); returns the process and its base URL."""
    port = port or free_port()
    env = {
        **os.environ,
        "STORE_ENV": "dev",
        "STORE_DATABASE_URL": database_url or f"sqlite:///{tmp_path / 'shop.db'}",
        "STORE_MEDIA_DIR": media_dir or str(tmp_path / "media"),
        "STORE_BASE_URL": f"http://127.0.0.1:{port}",
        **extra,
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    proc = subprocess.Popen(
        [sys.executable, *launcher, "serve", "--port", str(port), *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return proc, base
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise AssertionError("serve did not answer within 60 s")


def stop(proc: subprocess.Popen[str]) -> tuple[str, str]:
    proc.terminate()
    try:
        return proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.communicate()


def healthz_count(base: str) -> float:
    text = httpx.get(f"{base}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "storefront_http_requests_total" and s.labels == {
                "method": "GET",
                "route": "/healthz",
                "status": "200",
            }:
                return s.value
    return 0.0


# Every kind of link that is the only key to something, as a visitor opens it: logged masked.
SECRET_LINKS = {
    "/orders/s3cret-order-link": "/orders/[token]",
    "/api/orders/s3cret-api-link": "/api/orders/[token]",
    "/checkout/complete/s3cret-thanks-link": "/checkout/complete/[token]",
    "/donate/manage/s3cret-gift-link": "/donate/manage/[token]",
    "/newsletter/confirm/s3cret-confirm-link": "/newsletter/confirm/[token]",
    "/newsletter/unsubscribe/s3cret-news-link?x=1": "/newsletter/unsubscribe/[token]?x=1",
}


def test_two_workers_count_every_request_and_log_json(tmp_path: Path) -> None:
    proc, base = start_serve(tmp_path, "--workers", "2")
    try:
        start = healthz_count(base)
        with httpx.Client(timeout=10) as client:  # one connection: whichever worker took it
            for _ in range(20):
                assert client.get(f"{base}/healthz").status_code == 200
        for _ in range(20):  # new connections, spread across both workers
            assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200
        for secret_path in SECRET_LINKS:
            httpx.get(f"{base}{secret_path}", timeout=10)
        # a refused form (no CSRF token) is logged by the app with its path: masked there too
        assert httpx.post(f"{base}/donate/manage/s3cret-form-link/cancel", timeout=10).status_code == 403
        # Every scrape (whichever worker answers it) sees the sum over both processes.
        counts = {healthz_count(base) - start for _ in range(6)}
        files = sorted(p.name for p in (tmp_path / "var").glob("metrics-*/*.db"))
    finally:
        out, err = stop(proc)
    assert counts == {40.0}
    pids = {name.rsplit("_", 1)[-1] for name in files}
    assert len(pids) >= 2, files  # both workers wrote their own counts

    lines = [json.loads(line) for line in err.splitlines() if line.strip()]  # every line is JSON
    health = [a for a in lines if a["logger"] == "uvicorn.access" and a.get("path") == "/healthz"]
    assert len(health) >= 40
    assert health[0]["msg"] == "request" and "color_message" not in lines[0]
    assert (health[0]["method"], health[0]["status"], health[0]["client"].split(":")[0]) == (
        "GET",
        200,
        "127.0.0.1",
    )
    assert any(a["logger"] == "uvicorn.error" and a["msg"] == "Application startup complete." for a in lines)
    # the links that are the only key to an order or a subscription never reach the log
    assert "s3cret" not in err
    paths = {a.get("path") for a in lines if a["logger"] == "uvicorn.access"}
    assert set(SECRET_LINKS.values()) <= paths
    refused = [a for a in lines if a["msg"] == "csrf refused"]
    assert [a["path"] for a in refused] == ["/donate/manage/[token]/cancel"]
    assert out == ""


# `storefront` with localstripe's port moved off 8420, which a developer's own `make run` may hold.
DEMO_LAUNCHER = ("-c", "import sys, store.cli as c; c.LOCALSTRIPE_PORT = int(sys.argv.pop(1)); c.main()")


def _stat(pid: int | str) -> list[str]:
    """/proc/PID/stat's fields after the command name (state, ppid, …); [] for a process gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return []


def alive(pid: int) -> bool:
    """Running (not gone, not a zombie)."""
    fields = _stat(pid)
    return bool(fields) and fields[0] != "Z"


def children_of(pid: int) -> dict[int, str]:
    """The live child processes of `pid`: their command lines by pid."""
    found = {}
    for entry in Path("/proc").iterdir():
        fields = _stat(entry.name) if entry.name.isdigit() else []
        if fields and int(fields[1]) == pid and fields[0] != "Z":
            try:
                found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
    return found


def test_serve_demo_stopped_by_sigterm_stops_its_worker_and_localstripe(tmp_path: Path) -> None:
    """`kill <serve>` (what a process manager or a terminal's `kill` sends) used to leave the demo's job
    worker running: uvicorn re-raised SIGTERM with the default handler once it had shut down, so the
    process ended before stopping its children, and the stray worker took the next run's jobs."""
    stripe_port = free_port()
    proc, _ = start_serve(
        tmp_path,
        "--demo",
        launcher=(*DEMO_LAUNCHER, str(stripe_port)),
        STORE_STRIPE_API_BASE=f"http://127.0.0.1:{stripe_port}",
        STORE_STRIPE_JS_URL=f"http://127.0.0.1:{stripe_port}/js.stripe.com/v3/",
    )
    children = children_of(proc.pid)
    try:
        assert sorted("worker" if " worker" in c else "localstripe" for c in children.values()) == [
            "localstripe",
            "worker",
        ]
        proc.send_signal(signal.SIGTERM)  # to serve alone, not to its process group
        assert proc.wait(timeout=30) == 128 + signal.SIGTERM
        deadline = time.time() + 15
        while time.time() < deadline and any(alive(pid) for pid in children):
            time.sleep(0.2)
        assert [cmd for pid, cmd in children.items() if alive(pid)] == []
    finally:
        for pid in children:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
