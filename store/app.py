"""create_app(settings) -> FastAPI: routers, middleware, error pages."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from store.config import Settings, get_settings
from store.errors import LoginRequired, error_response, install_error_handlers
from store.logging_setup import configure_logging
from store.registry import domain_modules
from store.security import SecurityHeadersMiddleware, verify_csrf
from store.web import STATIC_DIR

log = logging.getLogger("store.app")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings)
    docs = not settings.is_production
    app = FastAPI(
        title="Red Revolution Media",
        docs_url="/docs" if docs else None,
        redoc_url=None,
        openapi_url="/openapi.json" if docs else None,
        dependencies=[Depends(verify_csrf)],
    )
    app.state.settings = settings
    install_error_handlers(app)

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        if request.method == "GET" and not request.url.path.startswith("/api/"):
            return RedirectResponse(f"/staff/login?next={request.url.path}", status_code=303)
        return error_response(request, 401, exc.message)

    app.add_middleware(SecurityHeadersMiddleware, settings=settings)
    from store.cart.middleware import CartCountMiddleware  # the header's mini-cart count

    app.add_middleware(CartCountMiddleware)
    from store.metrics import RequestMetricsMiddleware

    app.add_middleware(RequestMetricsMiddleware)
    from store.db import WriteUnitMiddleware  # one request = one unit for the SQLite write gate

    app.add_middleware(WriteUnitMiddleware)
    # Outermost: everything inside sees the shopper's address and scheme, never the proxy's.
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)

    media = Path(settings.media_dir)
    media.mkdir(parents=True, exist_ok=True)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.mount("/media", StaticFiles(directory=media), name="media")

    from store.deps import commit_in_handler_thread

    for module in domain_modules("routes"):
        commit_in_handler_thread(module.router)
        app.include_router(module.router)
    from store.metrics import router as metrics_router

    app.include_router(metrics_router)
    return app
