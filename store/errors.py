"""Domain errors, and how every error becomes an HTTP answer: HTML for people, JSON for /api."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("store.errors")


class DomainError(Exception):
    """A rule said no. `field` names the form field the message belongs beside."""

    status_code = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(DomainError):
    status_code = 404


class Forbidden(DomainError):
    status_code = 403


class LoginRequired(DomainError):
    status_code = 401


class Conflict(DomainError):
    status_code = 409


class TooManyAttempts(DomainError):
    """Throttled: 429 with Retry-After (seconds), JSON for a page's script, a page otherwise."""

    status_code = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class CSRFFailed(Exception):
    pass


_TITLES = {
    400: "That request could not be understood",
    401: "Please log in",
    403: "You can't do that",
    404: "Page not found",
    405: "That isn't allowed here",
    409: "That changed while you were looking",
    422: "Please check what you entered",
    429: "Too many attempts",
    500: "Something went wrong on our side",
}

_MESSAGES = {
    403: "You don't have permission for this page or action.",
    404: "We couldn't find that page. It may have moved, or the link may be mistyped.",
    500: "We've been told about it and will look into it. Please try again in a moment.",
}


def _wants_json(request: Request) -> bool:
    if request.url.path.startswith("/api/") or request.url.path.startswith("/webhooks/"):
        return True
    # A page's own script (card-payment.js) asks for JSON; a browser's navigation asks for HTML.
    return "application/json" in request.headers.get("accept", "")


def prefers_html(request: Request) -> bool:
    """A browser navigating (a form posted without its script) rather than a script or a program."""
    return not _wants_json(request) and "text/html" in request.headers.get("accept", "")


def error_response(request: Request, status: int, detail: str | None = None) -> Response:
    if _wants_json(request):
        return JSONResponse({"detail": detail or _TITLES.get(status, "Error")}, status_code=status)
    from store.web import render  # late import: templates import settings

    return render(
        request,
        "errors/error.html",
        {
            "status": status,
            "title": _TITLES.get(status, "Error"),
            "message": detail or _MESSAGES.get(status, ""),
        },
        status_code=status,
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) and exc.status_code != 404 else None
        if exc.status_code == 404 and _wants_json(request) and isinstance(exc.detail, str):
            detail = exc.detail if exc.detail != "Not Found" else "Not found"
        response = error_response(request, exc.status_code, detail)
        for key, value in (exc.headers or {}).items():
            response.headers[key] = value
        return response

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> Response:
        return error_response(request, exc.status_code, exc.message)

    @app.exception_handler(TooManyAttempts)
    async def too_many(request: Request, exc: TooManyAttempts) -> Response:
        response: Response
        if prefers_html(request):
            response = error_response(request, 429, exc.message)
        else:
            response = JSONResponse({"message": exc.message, "retry_after": exc.retry_after}, status_code=429)
        response.headers["Retry-After"] = str(exc.retry_after)
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.exception_handler(CSRFFailed)
    async def csrf_failed(request: Request, exc: CSRFFailed) -> Response:
        log.info("csrf refused", extra={"path": request.url.path})
        return error_response(
            request, 403, "This form has expired or was sent from elsewhere. Go back, reload and try again."
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        log.info("request refused by validation", extra={"path": request.url.path, "errors": exc.errors()})
        if _wants_json(request):
            return JSONResponse({"detail": "Invalid request parameters"}, status_code=422)
        return error_response(request, 422, "Some of what was sent was missing or not in the right form.")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", extra={"path": request.url.path, "method": request.method})
        return error_response(request, 500)
