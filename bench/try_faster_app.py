"""An experiment, not production code: the real app with three changes outside the catalogue that
the bench README recommends, so their effect can be measured before anyone makes them for real:

    .venv/bin/python bench/shop_bench.py --server-cmd \\
      ".venv/bin/uvicorn --app-dir bench try_faster_app:app --host 127.0.0.1 --port {port} \\
       --workers {workers} --no-access-log --log-level warning"

1. SecurityHeadersMiddleware as pure ASGI (the same headers) instead of a BaseHTTPMiddleware;
2. Jinja's per-render template freshness check off;
3. the CSRF serializer built once per key and salt instead of once per token.
"""

from __future__ import annotations

import functools
from typing import Any

from itsdangerous import URLSafeTimedSerializer
from starlette.datastructures import MutableHeaders
from starlette.responses import Response

import store.app
import store.security as security
import store.web as web
from store.config import Settings


class PureSecurityHeaders:
    def __init__(self, app: Any, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.csp = security.content_security_policy(settings)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]

        async def wrapped(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for key, value in (
                    ("Content-Security-Policy", self.csp),
                    ("X-Content-Type-Options", "nosniff"),
                    ("X-Frame-Options", "DENY"),
                    ("Referrer-Policy", "strict-origin-when-cross-origin"),
                    ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
                ):
                    headers.setdefault(key, value)
                if self.settings.is_production:
                    headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
                if path.startswith(("/media/", "/static/")):
                    media = path.startswith("/media/")
                    headers["Cache-Control"] = f"public, max-age={31536000 if media else 86400}" + (
                        ", immutable" if media else ""
                    )
                elif path.startswith(("/staff", "/cart", "/checkout")):
                    headers.setdefault("Cache-Control", "no-store")
                state = scope.get("state", {})
                if state.get("csrf_new"):
                    carrier = Response()
                    web.set_cookie(carrier, web.CSRF_COOKIE, state["csrf_secret"], max_age=60 * 60 * 24 * 30)
                    for key, value in carrier.raw_headers:
                        if key == b"set-cookie":
                            headers.append("set-cookie", value.decode("latin-1"))
            await send(message)

        await self.app(scope, receive, wrapped)


@functools.lru_cache(maxsize=8)
def _serializer(secret_key: str, salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=salt)


store.app.SecurityHeadersMiddleware = PureSecurityHeaders  # type: ignore[assignment,misc]
web.templates.env.auto_reload = False
web._serializer = lambda settings, salt: _serializer(settings.secret_key, salt)  # type: ignore[assignment]
app = store.app.create_app()
