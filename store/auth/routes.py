"""Staff log in and log out."""

from __future__ import annotations

import logging
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from store.auth import service
from store.deps import STAFF_COOKIE, Db, client_ip
from store.errors import DomainError
from store.web import redirect, render, set_cookie

router = APIRouter()
log = logging.getLogger("store.auth")


def _safe_next(target: str | None) -> str:
    # Only same-site paths: an attacker's ?next=https://evil must not become a redirect.
    if not target or not target.startswith("/") or target.startswith("//") or urlsplit(target).netloc:
        return "/staff"
    return target


@router.get("/staff/login", name="auth.login_form")
def login_form(request: Request, next: str | None = None) -> Response:
    return render(request, "staff/login.html", {"next": _safe_next(next), "email": "", "errors": {}})


@router.post("/staff/login", name="auth.login")
def login(
    request: Request,
    db: Db,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/staff",
) -> Response:
    try:
        user = service.authenticate(db, email=email, password=password, client_ip=client_ip(request))
    except DomainError as exc:
        log.info("staff login refused", extra={"reason": type(exc).__name__, "ip": client_ip(request)})
        return render(
            request,
            "staff/login.html",
            {"next": _safe_next(next), "email": email, "errors": {"email": exc.message}},
            status_code=exc.status_code,
        )
    old = request.cookies.get(STAFF_COOKIE)
    service.end_session(db, old)
    token = service.start_session(db, user=user)
    log.info("staff login", extra={"staff_id": user.id, "role": user.role})
    response = redirect(_safe_next(next), "Welcome back.")
    set_cookie(response, STAFF_COOKIE, token, max_age=int(service.SESSION_LIFETIME.total_seconds()))
    return response


@router.post("/staff/logout", name="auth.logout")
def logout(request: Request, db: Db) -> Response:
    service.end_session(db, request.cookies.get(STAFF_COOKIE))
    response = redirect("/staff/login", "You have logged out.")
    response.delete_cookie(STAFF_COOKIE, path="/")
    return response
