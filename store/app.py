"""create_app(settings) -> FastAPI: routers, middleware, error pages."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from store.config import Settings, get_settings
from store.errors import LoginRequired, error_response, install_error_handlers
from store.logging_setup import configure_logging
from store.page_cache import PageCacheMiddleware, page_cache_for
from store.registry import domain_modules
from store.security import SecurityHeadersMiddleware, security_headers, verify_csrf
from store.web import STATIC_DIR

log = logging.getLogger("store.app")

RUSH_FIRST = ("store.cart.routes", "store.checkout.routes", "store.webhook.routes")


class StorefrontApp(FastAPI):
    """FastAPI with the page cache in front (store/page_cache.py): a cached page is answered before
    FastAPI's own layers (error pages, telemetry, body limits, routing) and before our middleware,
    all of which would cost more than the answer itself. Only what must see every request, cached
    or not, stands in front of the cache: the proxy headers (the shopper's address and scheme) and
    the request metrics. Middleware added with `add_middleware` never sees a cache hit."""

    _front: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._front is None:
            self._front = self._build_front()
        await self._front(scope, receive, send)

    def _build_front(self) -> ASGIApp:
        from store.cart.middleware import cart_count
        from store.cart.service import CART_COOKIE
        from store.metrics import RequestMetricsMiddleware

        settings: Settings = self.state.settings
        cached = PageCacheMiddleware(
            super().__call__,
            cache=self.state.page_cache,
            headers=security_headers(settings),
            production=settings.is_production,
            cart_cookie=CART_COOKIE,
            cart_count=cart_count,
            shared_seconds=settings.shared_cache_seconds,
        )
        # Outermost: everything inside sees the shopper's address and scheme, never the proxy's.
        metrics: Any = RequestMetricsMiddleware(cached)  # uvicorn types ASGI apps its own way
        front: ASGIApp = ProxyHeadersMiddleware(metrics, trusted_hosts=settings.trusted_proxies)  # type: ignore[assignment]
        return front


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings)
    docs = not settings.is_production
    app = StorefrontApp(
        title="Red Revolution Media",
        docs_url="/docs" if docs else None,
        redoc_url=None,
        openapi_url="/openapi.json" if docs else None,
        dependencies=[Depends(verify_csrf)],
        # We export no OpenTelemetry (no SDK installed), yet FastAPI asks OTel on every request whether
        # a provider was configured: ~10 µs, a third of what a cached page costs. Off until we export.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.settings = settings
    app.state.page_cache = page_cache_for(settings)
    install_error_handlers(app)

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        if request.method == "GET" and not request.url.path.startswith("/api/"):
            return RedirectResponse(f"/staff/login?next={request.url.path}", status_code=303)
        return error_response(request, 401, exc.message)

    app.add_middleware(SecurityHeadersMiddleware, settings=settings)
    from store.cart.middleware import CartCountMiddleware  # the header's mini-cart count

    app.add_middleware(CartCountMiddleware)
    from store.db import WriteUnitMiddleware  # one request = one unit for the SQLite write gate

    app.add_middleware(WriteUnitMiddleware)

    media = Path(settings.media_dir)
    media.mkdir(parents=True, exist_ok=True)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.mount("/media", StaticFiles(directory=media), name="media")

    from store.deps import commit_in_handler_thread

    # FastAPI tries routes in the order they were included, ~3 µs each: the paths a rush writes to
    # go first (otherwise in DOMAINS order; no two domains share a path).
    routes = sorted(domain_modules("routes"), key=lambda module: module.__name__ not in RUSH_FIRST)
    for module in routes:
        commit_in_handler_thread(module.router)
        app.include_router(module.router)
    from store.metrics import router as metrics_router

    app.include_router(metrics_router)
    return app
