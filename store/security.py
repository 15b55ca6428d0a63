"""Response hardening: security headers with a CSP, cache headers for static files, CSRF checks."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from store.config import Settings
from store.deps import STAFF_COOKIE
from store.errors import CSRFFailed
from store.web import (
    CSRF_EXEMPT_PREFIXES,
    CSRF_FIELD,
    CSRF_HEADER,
    csrf_cookie_header,
    csrf_token_valid,
)

SAFE_METHODS = {"GET", "HEAD", "OPTIONS", "TRACE"}


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(settings: Settings) -> str:
    stripe_js = _origin(settings.stripe_js_url)
    stripe_api = _origin(settings.stripe_api_base)
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' {stripe_js}",
            # Stripe.js (and localstripe's mock) style their own card inputs inline.
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            f"connect-src 'self' {stripe_api} {stripe_js}",
            f"frame-src {stripe_js} https://hooks.stripe.com",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "base-uri 'self'",
            "object-src 'none'",
        ]
    )


def security_headers(settings: Settings) -> list[tuple[bytes, bytes]]:
    """The headers every response carries (the page cache adds them to the pages it answers itself)."""
    headers = [
        (b"content-security-policy", content_security_policy(settings).encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"strict-origin-when-cross-origin"),
        (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
    ]
    if settings.is_production:
        headers.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
    return headers


class SecurityHeadersMiddleware:
    """Plain ASGI (not BaseHTTPMiddleware, which costs a task and a stream copy per request):
    adds security and cache headers at response start, and the new CSRF cookie when one was made."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.production = settings.is_production
        self.static_headers = security_headers(settings)
        self.static_names = frozenset(name for name, _ in self.static_headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        # Over https (directly, or through a trusted proxy) every cookie is Secure, whatever STORE_ENV.
        https = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # Raw (bytes) headers: this runs for every response, cached pages included.
                raw: list[tuple[bytes, bytes]] = list(message.get("headers", ()))
                present = {name.lower() for name, _ in raw}
                if present.isdisjoint(self.static_names):
                    raw += self.static_headers
                else:
                    raw += [header for header in self.static_headers if header[0] not in present]
                if path.startswith("/media/"):
                    # Media names carry a content hash: cache for a year.
                    raw = _replace(raw, b"cache-control", b"public, max-age=31536000, immutable")
                elif path.startswith("/static/"):
                    raw = _replace(raw, b"cache-control", b"public, max-age=86400")
                elif path.startswith(("/staff", "/cart", "/checkout")) and b"cache-control" not in present:
                    raw.append((b"cache-control", b"no-store"))
                state = scope.get("state") or {}
                if state.get("csrf_new"):
                    raw.append((b"set-cookie", csrf_cookie_header(state["csrf_secret"], self.production)))
                if https:
                    raw = mark_cookies_secure(raw)
                message["headers"] = raw
            await send(message)

        await self.app(scope, receive, send_with_headers)


def mark_cookies_secure(raw: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    return [
        (name, value + b"; Secure")
        if name.lower() == b"set-cookie" and b"; secure" not in value.lower()
        else (name, value)
        for name, value in raw
    ]


def _replace(raw: list[tuple[bytes, bytes]], name: bytes, value: bytes) -> list[tuple[bytes, bytes]]:
    return [h for h in raw if h[0].lower() != name] + [(name, value)]


async def verify_csrf(request: Request) -> None:
    """App-wide dependency: every state-changing request carries the page's token (field or header).

    Signed double-submit: the cookie holds a random secret, the token is that secret signed with
    STORE_SECRET_KEY. A request with no cookie is refused too, so a cross-site form can't slip through;
    a shopper's request with no token at all is judged by `tokenless_allowed`.
    """
    if request.method in SAFE_METHODS or request.url.path.startswith(CSRF_EXEMPT_PREFIXES):
        return
    token = request.headers.get(CSRF_HEADER)
    if not token:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get(CSRF_FIELD)
            token = value if isinstance(value, str) else None
    if not token and tokenless_allowed(request):
        return
    if not csrf_token_valid(request, token):
        raise CSRFFailed()


def tokenless_allowed(request: Request) -> bool:
    """A shopper's POST with no token at all, from a page every cookieless visitor shares (nginx's
    page cache: store/page_cache.py), is taken on the browser's own word that it comes from one of
    our pages: Fetch Metadata (`Sec-Fetch-Site: same-origin`, sent by every current browser), else
    `Origin` equal to STORE_BASE_URL's. A cross-site form or script cannot forge either; a request
    with neither is refused. Staff pages and sessions always need the token, and without
    STORE_SHARED_CACHE_SECONDS (no shared copies) so does everyone."""
    settings: Settings = request.app.state.settings
    if not settings.shared_cache_seconds:
        return False
    if request.url.path.startswith("/staff") or STAFF_COOKIE in request.cookies:
        return False
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site == "same-origin"
    origin = request.headers.get("origin")
    return origin is not None and origin == _origin(settings.base_url)
