"""store/cache.py: version-key invalidation, in one process and shared through Redis."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from store.cache import LocalBackend, RedisBackend

pytestmark = pytest.mark.no_db


def _cached(backend, key: str, build) -> str:  # type: ignore[no-untyped-def]
    full = f"ns:v{backend.version('ns')}:{key}"
    hit = backend.get(full)
    if hit is None:
        hit = build()
        backend.set(full, hit, 60)
    return hit


def _exercise(first, second) -> None:  # type: ignore[no-untyped-def]
    """`first` and `second` stand for two processes sharing the cache's version."""
    builds: list[str] = []

    def build(value: str):  # type: ignore[no-untyped-def]
        def make() -> str:
            builds.append(value)
            return value

        return make

    assert _cached(first, "grid", build("old")) == "old"
    assert _cached(first, "grid", build("new")) == "old"  # a hit: not rebuilt
    second.bump("ns")  # another process commits a catalogue change
    assert _cached(first, "grid", build("new")) == "new"
    assert builds == ["old", "new"]


def test_local_backend_sees_a_bump_made_by_another_process(tmp_path: Path) -> None:
    _exercise(LocalBackend(tmp_path), LocalBackend(tmp_path))


def test_local_backend_sees_at_once_a_bump_made_in_another_process(tmp_path: Path) -> None:
    here = LocalBackend(tmp_path)
    before = here.version("ns")
    bump = f"from pathlib import Path; from store.cache import LocalBackend; LocalBackend(Path({str(tmp_path)!r})).bump('ns')"

    subprocess.run([sys.executable, "-c", bump], check=True)

    after = here.version("ns")
    assert after != before and here.version("ns") == after
    assert len(after) == 32  # read from the shared mapping, never a per-request "unavailable" key


def test_local_backend_is_a_bounded_lru_with_expiry(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path, max_entries=2)
    backend.set("a", "1", 60)
    backend.set("b", "2", 60)
    assert backend.get("a") == "1"  # a is now the most recent
    backend.set("c", "3", 60)
    assert (backend.get("a"), backend.get("b"), backend.get("c")) == ("1", None, "3")
    backend.set("d", "4", -1)
    assert backend.get("d") is None


@pytest.fixture
def redis_url() -> Iterator[str]:
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_redis_backend_shares_entries_and_bumps_between_processes(redis_url: str) -> None:
    first, second = RedisBackend(redis_url, version_fresh_seconds=0), RedisBackend(redis_url)
    _exercise(first, second)
    first.set("shared", "fragment", 60)
    assert second.get("shared") == "fragment"


def test_an_unreachable_redis_never_breaks_a_page() -> None:
    backend = RedisBackend("redis://127.0.0.1:9/0")
    assert backend.get("x") is None
    backend.set("x", "y", 60)
    backend.bump("ns")
    # every version is fresh, so nothing stale can be served; pages render uncached
    assert backend.version("ns") != backend.version("ns")


def test_pages_kept_by_one_process_are_served_by_another_through_redis(redis_url: str) -> None:
    from store.page_cache import Entry, PageCache

    fresh = {"version_fresh_seconds": 0}  # see the next test for the half second
    first, second = PageCache(RedisBackend(redis_url, **fresh)), PageCache(RedisBackend(redis_url, **fresh))
    versions = first.versions(["ns"])
    entry = Entry.make(
        "<p>shared</p>", status=200, headers=[("content-type", "text/html")], versions=versions, ttl=60
    )

    first.put("/shop", entry)

    assert second.get("/shop") == entry
    RedisBackend(redis_url).bump("ns")
    assert second.get("/shop") is None and first.get("/shop") is None


def test_a_bump_shows_at_once_in_its_own_process_and_within_half_a_second_in_others(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # each process trusts a version it read for VERSION_FRESH_SECONDS (no Redis round trip per page)
    from store import cache

    clock = [1000.0]
    monkeypatch.setattr(cache.time, "monotonic", lambda: clock[0])
    here, there = RedisBackend(redis_url), RedisBackend(redis_url)
    before = here.version("ns")
    assert there.version("ns") == before

    there.bump("ns")

    assert there.version("ns") != before  # the process that committed the change: at once
    assert here.version("ns") == before  # another: not yet
    clock[0] += cache.VERSION_FRESH_SECONDS
    assert here.version("ns") == there.version("ns") != before


def test_pages_kept_by_the_code_before_a_deploy_are_not_served_by_the_code_after_it(redis_url: str) -> None:
    from store.page_cache import Entry, PageCache, code_build

    before, after = PageCache(RedisBackend(redis_url), build="before"), PageCache(RedisBackend(redis_url))
    entry = Entry.make(
        "<p>old</p>", status=200, headers=[("content-type", "text/html")], versions=before.versions(["ns"]), ttl=60
    )

    before.put("/shop", entry)

    assert after.get("/shop") is None
    assert PageCache(RedisBackend(redis_url), build="before").get("/shop") == entry
    assert code_build() == code_build() and len(code_build()) == 16
