"""Response hardening: security headers with a CSP, cache headers for static files, CSRF checks."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import Request
from starlette.datastructures import MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from store.config import Settings
from store.errors import CSRFFailed
from store.web import CSRF_COOKIE, CSRF_EXEMPT_PREFIXES, CSRF_FIELD, CSRF_HEADER, csrf_token_valid, set_cookie

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


class SecurityHeadersMiddleware:
    """Plain ASGI (not BaseHTTPMiddleware, which costs a task and a stream copy per request):
    adds security and cache headers at response start, and the new CSRF cookie when one was made."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.production = settings.is_production
        self.static_headers: list[tuple[bytes, bytes]] = [
            (b"content-security-policy", content_security_policy(settings).encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"strict-origin-when-cross-origin"),
            (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
        ]
        if self.production:
            self.static_headers.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        # Over https (directly, or through a trusted proxy) every cookie is Secure, whatever STORE_ENV.
        https = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.static_headers:
                    if name.decode() not in headers:
                        headers.raw.append((name, value))
                if path.startswith("/media/"):
                    # Media names carry a content hash: cache for a year.
                    headers["Cache-Control"] = "public, max-age=31536000, immutable"
                elif path.startswith("/static/"):
                    headers["Cache-Control"] = "public, max-age=86400"
                elif path.startswith(("/staff", "/cart", "/checkout")) and "cache-control" not in headers:
                    headers["Cache-Control"] = "no-store"
                state = scope.get("state") or {}
                if state.get("csrf_new"):
                    cookie = Response()
                    set_cookie(cookie, CSRF_COOKIE, state["csrf_secret"], max_age=60 * 60 * 24 * 30)
                    headers.append("set-cookie", cookie.headers["set-cookie"])
                if https:
                    _mark_cookies_secure(headers)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _mark_cookies_secure(headers: MutableHeaders) -> None:
    raw = headers.raw
    for i, (name, value) in enumerate(raw):
        if name == b"set-cookie" and b"; secure" not in value.lower():
            raw[i] = (name, value + b"; Secure")


async def verify_csrf(request: Request) -> None:
    """App-wide dependency: every state-changing request carries the page's token (field or header).

    Signed double-submit: the cookie holds a random secret, the token is that secret signed with
    STORE_SECRET_KEY. A request with no cookie is refused too, so a cross-site form can't slip through.
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
    if not csrf_token_valid(request, token):
        raise CSRFFailed()
