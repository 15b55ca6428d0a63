"""Whole pages cached once and served to every visitor with that visitor's own bits filled in.

Why: a shop or news page is the same for everyone but for a few per-visitor bits: the CSRF token in
its forms, the cart count in the header, the article a product link came from. Rendering the page
costs ~0.3 ms of CPU; joining a stored copy with those bits costs a few microseconds.

How a page uses it: the route renders through `render_page(request, template, context,
namespaces=(...), cacheable=...)` (or `respond(...)` for a body it made itself, like JSON or a feed).

1. The template is rendered with *slot markers* where the per-visitor bits go: `csrf_token` and
   `cart_count` in the context are markers (print them as they are: no conditions or arithmetic on
   them), and so is `link_field("from")` (a hidden field echoing a link parameter, see LINK_PARAMS).
   The text is stored split at the markers, with the versions of the namespaces it was built from
   as they were when the request arrived (before the route read the database, so a change committed
   meanwhile is never stored as current).
2. `PageCacheMiddleware` (plain ASGI, in front of FastAPI and all our middleware: store/app.py)
   answers a GET or HEAD it holds a current copy for, before FastAPI's routing, dependencies and the
   database: it checks each namespace version (shared memory locally), fills the slots for this
   visitor, adds the security headers (and a new visitor's CSRF cookie) and sends the page. Misses
   go on to the route, and so does every request carrying a staff or flash cookie or an htmx
   header: those get a page rendered for them.
3. Responses made either way are identical: an ETag over the stored copy and this visitor's bits
   (a revisit gets a 304), and `Cache-Control: private, no-cache` for HTML (never in a shared cache).
4. With STORE_SHARED_CACHE_SECONDS > 0 (the shop behind deploy/nginx.conf's page cache), a request
   with no Cookie header at all gets the *public copy* of a cacheable HTML page: the same for every
   such visitor (no CSRF token in its forms, no cookie set, cart count 0), `Cache-Control: public,
   max-age=0, s-maxage=N` and `Vary: Cookie`, so nginx answers the next cookieless visitors itself for
   N seconds. Why: in a rush, most readers arrive from a link with no cookie, and a page nginx
   answers costs the shop's two processes nothing (bench/README.md, stop 22). Their first POST
   carries no token; store/security.py accepts it on the browser's word that it comes from our own
   pages (Fetch Metadata or Origin), and from then on they have cookies and tokens like everyone.

What may be cached: only what every visitor with the same URL sees. A route passes `cacheable=False`
for anything else (drafts, forms with errors, search results, unexpected query parameters: keys
must stay a bounded set). Pages rendered for staff or with a flash message are never stored. Links
in cached pages are paths (`url_for` gives paths here), never built from the request's Host header.

Invalidation: a committed change to a namespace's tables bumps its version (store/cache.py,
`invalidate_on_change`); entries also expire after `ttl` seconds. Keys are the path and the query
string without LINK_PARAMS. Entries live in a per-process LRU bounded by bytes; with Redis they are
also shared, so other processes and machines start warm.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import Request
from fastapi.responses import Response
from markupsafe import Markup, escape
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Receive, Scope, Send

from store import cache
from store.config import Settings, get_settings
from store.deps import STAFF_COOKIE
from store.web import (
    CSRF_COOKIE,
    FLASH_COOKIE,
    TEMPLATES_DIR,
    csrf_cookie_header,
    csrf_secret_in,
    csrf_token_for,
    pop_flash,
    templates,
)

DEFAULT_TTL = 3600
MAX_BYTES = 32 * 1024 * 1024  # per process
HTML = "text/html; charset=utf-8"
HTML_CACHE_CONTROL = "private, no-cache"  # per-visitor bits inside: revalidate (ETag), never share
_PER_VISITOR = (b"cache-control", HTML_CACHE_CONTROL.encode())
# Query parameters that say where a visitor came from: not part of the key; a page shows them only
# through `link_field(name)` (a hidden form field), and only when the value looks like a slug.
LINK_PARAMS = frozenset({"from"})
_LINK_VALUE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_BYPASS_COOKIES = (STAFF_COOKIE, FLASH_COOKIE)
_VERSIONS = "page_cache.versions"  # scope["state"] key: namespace versions when the request arrived

_NONCE = secrets.token_hex(8)  # markers nobody can type into an article or product
_MARKER = re.compile(rf"@@{_NONCE}\.([a-z_]+(?::[a-z_]+)?)@@")


def _marker(slot: str) -> str:
    return f"@@{_NONCE}.{slot}@@"


def link_field(name: str) -> Markup:
    """In a cached template: `<input type="hidden" name=NAME value=…>` from this request's query."""
    assert name in LINK_PARAMS, f"{name!r} is not a link parameter"
    return Markup(_marker(f"link:{name}"))  # noqa: S704 - our own marker, filled with escaped text


@dataclass(frozen=True, slots=True)
class RouteName:
    """Stands for the route in `scope["route"]` on a hit, as routing would have set it (`.path` is
    the template, e.g. /shop/{slug}), so request metrics count hits under their route."""

    path: str


@dataclass(frozen=True, slots=True)
class Entry:
    """A stored page: `parts` joined by the values of `slots` (len(parts) == len(slots) + 1)."""

    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    parts: tuple[bytes, ...]
    slots: tuple[str, ...]
    versions: tuple[tuple[str, str], ...]
    expires: float  # time.time()
    tag: str  # names this copy in ETags
    size: int
    slot_names: tuple[str, ...]  # each slot once
    route: RouteName | None = None  # the route template it came from, for request metrics
    link_slots: tuple[str, ...] = ()
    etag_prefix: bytes = b""  # 'W/"<tag>'

    @classmethod
    def make(
        cls,
        text: str,
        *,
        status: int,
        headers: Iterable[tuple[str, str]],
        versions: Mapping[str, str],
        ttl: int,
        route: str = "",
    ) -> Entry:
        pieces = _MARKER.split(text)
        parts = tuple(p.encode() for p in pieces[0::2])
        slots = tuple(pieces[1::2])
        digest = hashlib.blake2b(digest_size=9)
        for part, slot in zip(parts, (*slots, ""), strict=True):
            digest.update(part)
            digest.update(b"\0" + slot.encode() + b"\0")
        return cls(
            status=status,
            headers=tuple((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers),
            parts=parts,
            slots=slots,
            versions=tuple(sorted(versions.items())),
            expires=time.time() + ttl,
            tag=digest.hexdigest(),
            size=sum(len(p) for p in parts) + 200,
            slot_names=tuple(dict.fromkeys(slots)),
            route=RouteName(route) if route else None,
            link_slots=tuple(slot for slot in dict.fromkeys(slots) if slot.startswith("link:")),
            etag_prefix=b'W/"' + digest.hexdigest().encode(),
        )

    def dumps(self) -> str:
        return json.dumps(
            {
                "status": self.status,
                "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in self.headers],
                "parts": [p.decode() for p in self.parts],
                "slots": list(self.slots),
                "versions": [list(v) for v in self.versions],
                "expires": self.expires,
                "tag": self.tag,
                "route": self.route.path if self.route else "",
            }
        )

    @classmethod
    def loads(cls, raw: str) -> Entry:
        data = json.loads(raw)
        parts = tuple(p.encode() for p in data["parts"])
        return cls(
            status=int(data["status"]),
            headers=tuple((k.encode("latin-1"), v.encode("latin-1")) for k, v in data["headers"]),
            parts=parts,
            slots=tuple(data["slots"]),
            versions=tuple((ns, ver) for ns, ver in data["versions"]),
            expires=float(data["expires"]),
            tag=str(data["tag"]),
            size=sum(len(p) for p in parts) + 200,
            slot_names=tuple(dict.fromkeys(data["slots"])),
            route=RouteName(data["route"]) if data.get("route") else None,
            link_slots=tuple(slot for slot in dict.fromkeys(data["slots"]) if slot.startswith("link:")),
            etag_prefix=b'W/"' + str(data["tag"]).encode(),
        )


class PageCache:
    """Entries by key: an in-process LRU bounded by bytes, backed by Redis when that is configured."""

    def __init__(self, backend: cache.Backend, max_bytes: int = MAX_BYTES, build: str | None = None) -> None:
        self.backend = backend
        self.max_bytes = max_bytes
        # Shared entries are kept per build, so after a deploy no process serves a page made by the
        # code before it (with Redis, for up to `ttl`), whatever its namespaces say.
        self._shared = f"page:{build or code_build()}:"
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> Entry | None:
        """The entry for `key` if it is still current (not expired, every namespace unchanged)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
        if entry is None and self.backend.shared:
            raw = self.backend.get(self._shared + key)
            if raw is not None:
                entry = Entry.loads(raw)
                self._keep(key, entry)
        if entry is None:
            return None
        current = entry.expires >= time.time()
        for namespace, version in entry.versions:
            current = current and self.backend.version(namespace) == version
        if not current:
            self.discard(key)
            return None
        return entry

    def put(self, key: str, entry: Entry) -> None:
        self._keep(key, entry)
        if self.backend.shared:
            self.backend.set(self._shared + key, entry.dumps(), max(1, int(entry.expires - time.time())))

    def discard(self, key: str) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old.size

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def versions(self, namespaces: Iterable[str]) -> dict[str, str]:
        return {ns: self.backend.version(ns) for ns in namespaces}

    def _keep(self, key: str, entry: Entry) -> None:
        if entry.size > self.max_bytes // 8:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old.size
            self._entries[key] = entry
            self._bytes += entry.size
            while self._bytes > self.max_bytes:
                _, dropped = self._entries.popitem(last=False)
                self._bytes -= dropped.size


@lru_cache(maxsize=1)
def code_build() -> str:
    """Names the code that renders pages: a digest of the templates and the Python of `store` and
    `catalog` (read once per process, a few milliseconds)."""
    digest = hashlib.blake2b(digest_size=8)
    for folder in (TEMPLATES_DIR, TEMPLATES_DIR.parent / "store", TEMPLATES_DIR.parent / "catalog"):
        for path in sorted(folder.rglob("*")):
            if path.suffix in (".html", ".xml", ".txt", ".py") and path.is_file():
                digest.update(path.relative_to(folder.parent).as_posix().encode() + b"\0")
                digest.update(path.read_bytes())
    return digest.hexdigest()


def page_cache_for(settings: Settings) -> PageCache:
    return PageCache(cache.backend_for(settings))


# --- keys and the per-visitor fill ------------------------------------------------------------------


def page_key(scope: Scope) -> str:
    path: str = scope["path"]
    query: bytes = scope.get("query_string", b"")
    if not query:
        return path
    text = query.decode("latin-1")
    if any(f"{name}=" in text for name in LINK_PARAMS):
        pairs = parse_qsl(text, keep_blank_values=True)
        text = urlencode([(k, v) for k, v in pairs if k not in LINK_PARAMS])
        if not text:
            return path
    return f"{path}?{text}"


def _link_value(scope: Scope, name: str) -> bytes:
    query = scope.get("query_string", b"")
    if not query:
        return b""
    value = next((v for k, v in parse_qsl(query.decode("latin-1")) if k == name), "")
    if len(value) > 160 or not _LINK_VALUE.fullmatch(value):
        return b""
    return f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'.encode()


def _public_cache_control(shared_seconds: int) -> bytes:
    """The Cache-Control of a public copy; b"" when copies are not shared (0 seconds)."""
    return b"public, max-age=0, s-maxage=%d" % shared_seconds if shared_seconds > 0 else b""


def _fill(
    entry: Entry,
    scope: Scope,
    cookies: Mapping[str, str],
    if_none_match: str | None,
    public: bytes = b"",
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Status, headers and body of `entry` for this visitor (a 304 when their copy is current); with
    `public` (a Cache-Control value), the public copy every cookieless visitor shares."""
    if entry.slots:
        state = scope.setdefault("state", {})
        values: dict[str, bytes] = {}
        for slot in entry.slot_names:
            if slot == "csrf_token":
                values[slot] = (
                    b""
                    if public
                    else csrf_token_for(csrf_secret_in(state, cookies.get(CSRF_COOKIE))).encode()
                )
            elif slot == "cart_count":
                values[slot] = b"%d" % state.get("cart_count", 0)
            elif slot.startswith("link:"):
                values[slot] = _link_value(scope, slot[5:])
            else:  # pragma: no cover - a marker only this module makes
                raise ValueError(f"unknown page slot {slot!r}")
        pieces = [b""] * (2 * len(entry.slots) + 1)
        pieces[0::2] = entry.parts
        pieces[1::2] = [values[slot] for slot in entry.slots]
        body = b"".join(pieces)
        etag = entry.etag_prefix + b"-" + _visitor_tag(values, entry.link_slots) + b'"'
    else:
        body = entry.parts[0]
        etag = entry.etag_prefix + b'"'
    if public:
        headers = [h for h in entry.headers if h[0] != b"cache-control"]
        headers += [(b"cache-control", public), (b"vary", b"Cookie"), (b"etag", etag)]
    else:
        headers = [*entry.headers, (b"etag", etag)]
    if if_none_match and entry.status == 200 and _matches(if_none_match, etag.decode()):
        return 304, headers, b""
    headers.append((b"content-length", b"%d" % len(body)))
    return entry.status, headers, body


def _shares(entry: Entry, cookie_header: bytes | str | None, public: bytes) -> bytes:
    """`public` (from `_public_cache_control`) when every cookieless visitor may share `entry`, else
    b"": only HTML that would otherwise be private to one visitor (feeds and the like keep their own)."""
    if public and not cookie_header and _PER_VISITOR in entry.headers:
        return public
    return b""


def _visitor_tag(values: dict[str, bytes], link_slots: tuple[str, ...]) -> bytes:
    """Names this visitor's bits in the ETag. The CSRF token's MAC already names the visitor's
    secret and hour (and shows nothing the page doesn't); only link fields need hashing."""
    tag = values.get("csrf_token", b"")[-12:] + b"." + values.get("cart_count", b"")
    links = b"\0".join(values[slot] for slot in link_slots)
    if links.strip(b"\0"):
        tag += b"." + hashlib.blake2b(links, digest_size=6).hexdigest().encode()
    return tag


def _matches(if_none_match: str, etag: str) -> bool:
    return if_none_match.strip() == "*" or etag in (t.strip() for t in if_none_match.split(","))


# --- the ASGI layer ------------------------------------------------------------------------------


class PageCacheMiddleware:
    """Answers GET/HEAD requests it holds a current copy for; everything else goes on to `app`.

    It stands in front of everything else (store/app.py), so a hit adds what the middleware behind it
    would have: this visitor's cart count (from `cart_count(cookie value)`), the security `headers`,
    and a new visitor's CSRF cookie. Tests check a hit and a miss answer alike.
    """

    def __init__(
        self,
        app: ASGIApp,
        cache: PageCache,
        *,
        headers: Iterable[tuple[bytes, bytes]],
        production: bool,
        cart_cookie: str,
        cart_count: Callable[[str | None], int],
        shared_seconds: int = 0,
    ) -> None:
        self.app = app
        self.public = _public_cache_control(shared_seconds)  # formatted once, not per cookieless hit
        self.cache = cache
        self.headers = list(headers)
        self.production = production
        self.cart_cookie = cart_cookie
        self.cart_count = cart_count

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        cookie_header = if_none_match = None
        for name, value in scope["headers"]:
            if name == b"cookie":
                cookie_header = value if cookie_header is None else cookie_header + b"; " + value
            elif name == b"if-none-match":
                if_none_match = value.decode("latin-1")
            elif name == b"hx-request":
                await self.app(scope, receive, send)  # htmx asks for a fragment: the route decides
                return
        cookies = cookie_parser(cookie_header.decode("latin-1")) if cookie_header else {}
        if cookies and any(name in cookies for name in _BYPASS_COOKIES):
            await self.app(scope, receive, send)
            return
        key = page_key(scope)
        entry = self.cache.get(key)
        state = scope.setdefault("state", {})
        if entry is None:
            state[_VERSIONS] = self.cache.versions(cache.NAMESPACES)
            await self.app(scope, receive, send)
            return
        if self.cart_cookie in cookies:
            state["cart_count"] = self.cart_count(cookies[self.cart_cookie])
        if entry.route is not None:
            scope["route"] = entry.route
        public = _shares(entry, cookie_header, self.public)
        status, headers, body = _fill(entry, scope, cookies, if_none_match, public)
        headers += self.headers
        if state.get("csrf_new"):
            secure = self.production or scope.get("scheme") == "https"  # as the security middleware
            headers.append((b"set-cookie", csrf_cookie_header(state["csrf_secret"], secure)))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})


# --- what routes call ----------------------------------------------------------------------------


def only_params(request: Request, allowed: Iterable[str]) -> bool:
    """The query holds nothing but `allowed` names (and LINK_PARAMS), each once: a route caches only
    such requests, so the cache holds a bounded set of keys."""
    names = [k for k, _ in request.query_params.multi_items()]
    return len(names) == len(set(names)) and set(names) <= set(allowed) | LINK_PARAMS


def respond(
    request: Request,
    text: str,
    *,
    namespaces: Iterable[str],
    cacheable: bool = True,
    media_type: str = HTML,
    cache_control: str = HTML_CACHE_CONTROL,
    ttl: int = DEFAULT_TTL,
    status_code: int = 200,
) -> Response:
    """Answer with `text` (slot markers filled for this visitor), and keep it for the next visitors
    when `cacheable` and the request arrived through the page cache."""
    store = getattr(request.app.state, "page_cache", None)
    seen: dict[str, str] = request.scope.get("state", {}).get(_VERSIONS) or {}
    namespaces = tuple(namespaces)
    keep = (
        cacheable
        and store is not None
        and status_code == 200
        and all(ns in seen for ns in namespaces)
        and not getattr(request.state, "flash_read", False)
        and getattr(request.state, "staff_user", None) is None
    )
    entry = Entry.make(
        text,
        status=status_code,
        headers=(("content-type", media_type), ("cache-control", cache_control)),
        versions={ns: seen[ns] for ns in namespaces} if keep else {},
        ttl=ttl,
        route=getattr(request.scope.get("route"), "path", ""),
    )
    if keep and store is not None:
        store.put(page_key(request.scope), entry)
    shared = _public_cache_control(request.app.state.settings.shared_cache_seconds)
    public = _shares(entry, request.headers.get("cookie"), shared) if keep else b""
    status, headers, body = _fill(
        entry, request.scope, request.cookies, request.headers.get("if-none-match"), public
    )
    response = Response(body, status_code=status)
    response.raw_headers = headers
    if getattr(request.state, "flash_read", False):
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def render_page(
    request: Request,
    template: str,
    context: Mapping[str, Any],
    *,
    namespaces: Iterable[str],
    cacheable: bool = True,
    ttl: int = DEFAULT_TTL,
    status_code: int = 200,
) -> Response:
    """`store.web.render` for pages that may be cached: the same context names, and this visitor's
    bits filled in at the end (see the module docstring)."""
    ctx: dict[str, Any] = {
        "request": request,
        "settings": get_settings(),
        "csrf_token": _marker("csrf_token"),
        "cart_count": _marker("cart_count"),
        "flashes": pop_flash(request),
        "staff_user": getattr(request.state, "staff_user", None),
        "url_for": lambda name, /, **params: str(request.app.url_path_for(name, **params)),
        "link_field": link_field,
    }
    ctx.update(context)
    text = templates.get_template(template).render(ctx)
    return respond(
        request, text, namespaces=namespaces, cacheable=cacheable, ttl=ttl, status_code=status_code
    )
