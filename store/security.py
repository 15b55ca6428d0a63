"""Response hardening: security headers with a CSP, cache headers for static files, CSRF checks."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import Request
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.responses import Response

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


class SecurityHeadersMiddleware(BaseHTTPMiddleware):
    def __init__(self, app, settings: Settings) -> None:  # type: ignore[no-untyped-def]
        super().__init__(app)
        self.settings = settings
        self.csp = content_security_policy(settings)

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        headers = response.headers
        headers.setdefault("Content-Security-Policy", self.csp)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if self.settings.is_production:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        path = request.url.path
        if path.startswith("/media/") or path.startswith("/static/"):
            # Media names carry a content hash; static files change only with a deploy.
            max_age = 31536000 if path.startswith("/media/") else 86400
            headers["Cache-Control"] = f"public, max-age={max_age}" + (
                ", immutable" if path.startswith("/media/") else ""
            )
        elif path.startswith("/staff") or path.startswith("/cart") or path.startswith("/checkout"):
            headers.setdefault("Cache-Control", "no-store")
        if getattr(request.state, "csrf_new", False):
            set_cookie(response, CSRF_COOKIE, request.state.csrf_secret, max_age=60 * 60 * 24 * 30)
        return response


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
