"""A small fragment cache with version-key invalidation.

Keys embed a namespace version (`catalogue:v<token>:…`); a change bumps the version, so every old
entry is simply never read again and ages out. In one process by default (a bounded LRU with TTLs;
the version token lives in a small file beside the media folder, so every worker process on this
machine sees a bump at once); in Redis when STORE_REDIS_URL is set, shared by every process on every
machine. The cache never breaks a page: if Redis is unreachable we log and render uncached.

Only cache HTML that is the same for every visitor (no CSRF token, cart count or staff name in it);
put per-visitor bits in at serve time.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Protocol

from store.config import get_settings

log = logging.getLogger("store.cache")

DEFAULT_TTL = 3600


class Backend(Protocol):
    def get(self, key: str) -> str | None: ...
    def set(self, key: str, value: str, ttl: int) -> None: ...
    def version(self, namespace: str) -> str: ...
    def bump(self, namespace: str) -> None: ...
    def clear(self) -> None: ...


class LocalBackend:
    def __init__(self, version_dir: Path, max_entries: int = 4096) -> None:
        self._data: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_entries
        self._dir = version_dir

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

    def _path(self, namespace: str) -> Path:
        return self._dir / f"cache-version-{namespace}"

    def version(self, namespace: str) -> str:
        # A bump replaces the file atomically, so its inode and mtime name the version: one stat()
        # (a couple of microseconds) instead of reading it on every request.
        try:
            st = os.stat(self._path(namespace))
        except OSError:
            return "0"
        return f"{st.st_ino:x}.{st.st_mtime_ns:x}"

    def bump(self, namespace: str) -> None:
        path = self._path(namespace)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
            tmp.write_text(secrets.token_hex(8))
            tmp.replace(path)
        except OSError:
            log.exception("cache version bump failed", extra={"namespace": namespace})
            self.clear()

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


class RedisBackend:
    def __init__(self, url: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._prefix = "rrm:cache:"

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
        try:
            value = self._redis.get(f"{self._prefix}version:{namespace}")
        except Exception:
            log.warning("redis cache version failed", exc_info=True)
            return "unavailable-" + secrets.token_hex(4)  # a key nobody shares: render fresh
        return value.decode() if isinstance(value, bytes) else "0"

    def bump(self, namespace: str) -> None:
        try:
            self._redis.incr(f"{self._prefix}version:{namespace}")
        except Exception:
            log.exception("redis cache bump failed", extra={"namespace": namespace})

    def clear(self) -> None:
        for key in self._redis.scan_iter(self._prefix + "*"):
            self._redis.delete(key)


@lru_cache(maxsize=4)
def _backend_for(redis_url: str, media_dir: str) -> Backend:
    if redis_url:
        return RedisBackend(redis_url)
    return LocalBackend(Path(media_dir).resolve().parent)


def backend() -> Backend:
    settings = get_settings()
    return _backend_for(settings.redis_url, str(settings.media_dir))


def version(namespace: str) -> str:
    return backend().version(namespace)


def bump(namespace: str) -> None:
    backend().bump(namespace)


def cached(namespace: str, key: str, build: Callable[[], str], *, ttl: int = DEFAULT_TTL) -> str:
    """The fragment for `key` in the namespace's current version; built (and stored) on a miss.

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
