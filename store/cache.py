"""Where cached things live, and their namespace versions (the page cache, store/page_cache.py, is
built on this).

Each namespace ("catalogue", "news") has a version; any committed change to one of its tables bumps
it (`invalidate_on_change`), so every entry made before is simply never served again and ages out.
In one process by default (a bounded LRU with TTLs; the version lives in a small memory-mapped file
beside the media folder, so every worker process on this machine sees a bump at once); in Redis when
STORE_REDIS_URL is set, shared by every process on every machine. The cache never breaks a page: if
Redis is unreachable we log and render uncached.
"""

from __future__ import annotations

import logging
import mmap
import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from store.config import Settings, get_settings

log = logging.getLogger("store.cache")

DEFAULT_TTL = 3600


class Backend(Protocol):
    shared: bool  # True when other processes see what this one stores (worth storing pages there)

    def get(self, key: str) -> str | None: ...
    def set(self, key: str, value: str, ttl: int) -> None: ...
    def version(self, namespace: str) -> str: ...
    def bump(self, namespace: str) -> None: ...
    def clear(self) -> None: ...


class LocalBackend:
    shared = False

    def __init__(self, version_dir: Path, max_entries: int = 4096) -> None:
        self._data: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_entries
        self._dir = version_dir
        self._maps: dict[str, mmap.mmap] = {}
        self._unusable: set[str] = set()

    def get(self, key: str) -> str | None:
        with self._lock:
            hit = self._data.get(key)
            if hit is None:
                return None
            expires, value = hit
            if expires < time.monotonic():
                del self._data[key]
                return None
            self._data.move_to_end(key)
            return value

    def set(self, key: str, value: str, ttl: int) -> None:
        with self._lock:
            self._data[key] = (time.monotonic() + ttl, value)
            self._data.move_to_end(key)
            while len(self._data) > self._max:
                self._data.popitem(last=False)

    # Each namespace's version is 16 random bytes in a small file beside the media folder, mapped into
    # memory (MAP_SHARED): every process on this machine reads a bump at once, with no system call per
    # request (a stat() per request cost more than the rest of a cached page's bookkeeping). A bump
    # writes new bytes in place; the file is never replaced, so every mapping stays the live one.
    _VERSION_BYTES = 16

    def _map(self, namespace: str) -> mmap.mmap | None:
        mapped = self._maps.get(namespace)
        if mapped is not None:
            return mapped
        path = self._dir / f"cache-version-{namespace}.shm"
        try:
            self._dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                if os.fstat(fd).st_size < self._VERSION_BYTES:
                    os.pwrite(fd, secrets.token_bytes(self._VERSION_BYTES), 0)
                mapped = mmap.mmap(fd, self._VERSION_BYTES)
            finally:
                os.close(fd)
        except OSError:
            if namespace not in self._unusable:  # said once; nothing is cached meanwhile
                self._unusable.add(namespace)
                log.exception("cache version file unusable", extra={"namespace": namespace})
            return None
        self._maps[namespace] = mapped
        return mapped

    def version(self, namespace: str) -> str:
        mapped = self._maps.get(namespace) or self._map(namespace)
        if mapped is None:
            return "unavailable-" + secrets.token_hex(4)  # a key nobody shares: render fresh
        return mapped[: self._VERSION_BYTES].hex()

    def bump(self, namespace: str) -> None:
        mapped = self._map(namespace)
        if mapped is None:
            self.clear()
            return
        mapped[: self._VERSION_BYTES] = secrets.token_bytes(self._VERSION_BYTES)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


# How long a process trusts a namespace version it read from Redis. Every cached page and every add to
# cart asks for a version, on the event loop; under load each Redis round trip there cost milliseconds
# (the loop waits for the GIL back from the thread pool after each one: py-spy in bench/rush.py found
# the loop 36 % of its time in them). So another process's change shows on this process's cached
# pages up to this long after its commit; a process's own changes show at once, and staff pages are
# never cached.
VERSION_FRESH_SECONDS = 0.5


class RedisBackend:
    shared = True

    def __init__(self, url: str, *, version_fresh_seconds: float = VERSION_FRESH_SECONDS) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._prefix = "rrm:cache:"
        self.version_fresh_seconds = version_fresh_seconds
        self._versions: dict[str, tuple[str, float]] = {}  # namespace -> (version, read at, monotonic)

    def get(self, key: str) -> str | None:
        try:
            value = self._redis.get(self._prefix + key)
        except Exception:
            log.warning("redis cache get failed", exc_info=True)
            return None
        return value.decode() if isinstance(value, bytes) else None

    def set(self, key: str, value: str, ttl: int) -> None:
        try:
            self._redis.set(self._prefix + key, value.encode(), ex=ttl)
        except Exception:
            log.warning("redis cache set failed", exc_info=True)

    def version(self, namespace: str) -> str:
        now = time.monotonic()
        known = self._versions.get(namespace)
        if known is not None and now - known[1] < self.version_fresh_seconds:
            return known[0]
        try:
            value = self._redis.get(f"{self._prefix}version:{namespace}")
        except Exception:
            log.warning("redis cache version failed", exc_info=True)
            return "unavailable-" + secrets.token_hex(4)  # a key nobody shares: render fresh
        version = value.decode() if isinstance(value, bytes) else "0"
        self._versions[namespace] = (version, now)
        return version

    def bump(self, namespace: str) -> None:
        self._versions.pop(namespace, None)  # this process reads the new version at once
        try:
            bumped = self._redis.incr(f"{self._prefix}version:{namespace}")
            self._versions[namespace] = (str(bumped), time.monotonic())
        except Exception:
            log.exception("redis cache bump failed", extra={"namespace": namespace})

    def clear(self) -> None:
        self._versions.clear()
        for key in self._redis.scan_iter(self._prefix + "*"):
            self._redis.delete(key)


@lru_cache(maxsize=4)
def _backend_for(redis_url: str, media_dir: str) -> Backend:
    if redis_url:
        return RedisBackend(redis_url)
    return LocalBackend(Path(media_dir).resolve().parent)


def backend_for(settings: Settings) -> Backend:
    return _backend_for(settings.redis_url, str(settings.media_dir))


def backend() -> Backend:
    return backend_for(get_settings())


def version(namespace: str) -> str:
    return backend().version(namespace)


def bump(namespace: str) -> None:
    backend().bump(namespace)


NAMESPACES: set[str] = set()


def invalidate_on_change(namespace: str, model_types: tuple[type, ...]) -> None:
    """Bump `namespace` after any commit that inserted, changed or deleted one of `model_types`
    through the ORM (a rolled-back change bumps nothing). Call once, at import of the models."""
    from sqlalchemy import event
    from sqlmodel import Session

    from store.db import on_commit

    NAMESPACES.add(namespace)
    flag = f"cache_bump:{namespace}"

    @event.listens_for(Session, "before_flush")
    def _changed(session: Any, _context: Any, _instances: Any) -> None:
        if session.info.get(flag):
            return
        if any(isinstance(obj, model_types) for obj in (*session.new, *session.dirty, *session.deleted)):
            session.info[flag] = True
            on_commit(session, lambda: bump(namespace))

    @event.listens_for(Session, "after_commit")
    @event.listens_for(Session, "after_rollback")
    def _reset(session: Any) -> None:
        session.info.pop(flag, None)


def cached(namespace: str, key: str, build: Callable[[], str], *, ttl: int = DEFAULT_TTL) -> str:
    """A value (not a page: pages use store/page_cache.py) for `key` in the namespace's current
    version; built (and stored) on a miss.

    The version is read BEFORE building: an entry built from data that changed meanwhile is stored
    under the old version and never served after the bump.
    """
    store = backend()
    full_key = f"{namespace}:v{store.version(namespace)}:{key}"
    hit = store.get(full_key)
    if hit is not None:
        return hit
    value = build()
    store.set(full_key, value, ttl)
    return value
