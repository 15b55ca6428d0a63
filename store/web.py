"""Templates (Jinja2 + filters), CSRF tokens and flash messages: one place for each."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from jinja2_fragments.fastapi import Jinja2Blocks
from starlette.datastructures import FormData, UploadFile

from store.config import Settings, get_settings
from store.money import Money
from store.timeutil import london_time

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = ROOT / "templates"
STATIC_DIR = ROOT / "static"

CSRF_COOKIE = "rrm_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
CSRF_MAX_AGE = 60 * 60 * 24  # a form left open for a day still posts
CSRF_COOKIE_MAX_AGE = 60 * 60 * 24 * 30
FLASH_COOKIE = "rrm_flash"
# POSTs that carry their own proof instead of a CSRF token: signed webhooks, and RFC 8058
# one-click unsubscribe (mail clients POST without our cookies).
CSRF_EXEMPT_PREFIXES = ("/webhooks/", "/newsletter/unsubscribe/")


def format_money(value: Money | None) -> str:
    return "" if value is None else value.format()


def format_date(value: date | datetime | None, style: str = "long") -> str:
    if value is None:
        return ""
    if style == "iso":
        return value.isoformat()
    if style == "short":
        return value.strftime("%d/%m/%Y")
    return f"{value.day} {value.strftime('%B %Y')}"


templates = Jinja2Blocks(directory=str(TEMPLATES_DIR))
# Templates change only with a deploy (restart); skip a stat() of every template on every render.
templates.env.auto_reload = False
templates.env.filters["money"] = format_money
templates.env.filters["date"] = format_date
templates.env.filters["uk_time"] = london_time  # staff pages show UK time, as the reports count UK days
templates.env.globals["site_name"] = "Red Revolution Media"


def load_all_templates() -> None:
    """Compile every template now (a served process's start-up: store/asgi.py).

    Jinja2 compiles a template at its first use and does not make other threads wait for that: a
    process started under load (a deploy during a rush) had each of its 40 threads compile the same
    pages at once, ~15 % of its first seconds' CPU in the checkout bench (py-spy). All of them (77
    today) take ~0.5 s once, before the first request; the cache (400) keeps them for the process."""
    for name in templates.env.list_templates():
        templates.env.get_template(name)


async def parsed_form(request: Request) -> FormData:
    """The request's form, parsed on the event loop before a (sync) handler runs.

    Handlers that touch the database are plain `def` (run in the thread pool): a blocking database
    wait inside an `async def` would stall every other request on the loop, and on SQLite could
    deadlock against a request holding the write lock. Dynamic forms take this as a dependency.
    """
    return await request.form()


FormDataDep = Annotated[FormData, Depends(parsed_form)]


async def raw_body(request: Request) -> bytes:
    """The exact bytes a webhook sender signed (never a re-serialised JSON)."""
    return await request.body()


RawBody = Annotated[bytes, Depends(raw_body)]


def upload_bytes(value: object, limit: int) -> bytes:
    """The bytes of an uploaded file field, reading at most `limit` + 1 (so 'too big' is detectable)."""
    if isinstance(value, UploadFile) and value.filename:
        value.file.seek(0)
        return value.file.read(limit + 1)
    return b""


@lru_cache(maxsize=16)
def _signer(secret_key: str, salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=salt)


def _serializer(settings: Settings, salt: str) -> URLSafeTimedSerializer:
    return _signer(settings.secret_key, salt)


def new_csrf_secret() -> str:
    return secrets.token_hex(18)


def csrf_secret_in(state: dict[str, Any], cookie: str | None) -> str:
    """The browser's CSRF secret (`cookie`), or a new one the security middleware will set; kept in
    the request's state (a scope's "state" dict) so one request signs one secret."""
    existing = state.get("csrf_secret")
    if existing:
        return str(existing)
    secret = cookie or ""
    if len(secret) < 20:
        secret = new_csrf_secret()
        state["csrf_new"] = True
    state["csrf_secret"] = secret
    return secret


def csrf_secret(request: Request) -> str:
    return csrf_secret_in(request.scope.setdefault("state", {}), request.cookies.get(CSRF_COOKIE))


# A CSRF token is the browser's secret with the hour it was issued in, signed by keyed BLAKE2b (a MAC
# by design; 160 bits) with a key derived from STORE_SECRET_KEY: "<hour, hex>.<mac, hex>". It costs
# ~0.5 µs where itsdangerous cost ~40 µs, and every cached page signs one per visitor; whole hours
# keep a visitor's token (and so the page's ETag) the same between visits, so a revisit can be a 304.
_CSRF_HOUR = 3600


@lru_cache(maxsize=4)
def _csrf_key(secret_key: str) -> bytes:
    return hashlib.sha256(b"csrf-token:" + secret_key.encode()).digest()


def _csrf_mac(secret: str, issued: int) -> str:
    key = _csrf_key(get_settings().secret_key)
    return hashlib.blake2b(f"{issued:x}.{secret}".encode(), key=key, digest_size=20).hexdigest()


def csrf_token_for(secret: str) -> str:
    issued = int(time.time()) // _CSRF_HOUR * _CSRF_HOUR
    return f"{issued:x}.{_csrf_mac(secret, issued)}"


def csrf_token(request: Request) -> str:
    return csrf_token_for(csrf_secret(request))


def csrf_token_valid(request: Request, token: str | None) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE)
    if not token or not cookie:
        return False
    issued_hex, _, mac = token.partition(".")
    if not mac or "." in mac:
        return False
    try:
        issued = int(issued_hex, 16)
    except ValueError:
        return False
    if not 0 <= time.time() - issued <= CSRF_MAX_AGE + _CSRF_HOUR:
        return False
    return hmac.compare_digest(mac, _csrf_mac(cookie, issued))


@lru_cache(maxsize=4)
def _csrf_cookie_attributes(production: bool) -> bytes:
    probe = Response()
    probe.set_cookie(
        "x", "", max_age=CSRF_COOKIE_MAX_AGE, httponly=True, samesite="lax", secure=production, path="/"
    )
    return b";" + probe.headers["set-cookie"].split(";", 1)[1].encode("latin-1")


def csrf_cookie_header(secret: str, production: bool) -> bytes:
    """A new visitor's Set-Cookie for their CSRF secret, as set_cookie writes it (without building a
    Response for every new visitor)."""
    return CSRF_COOKIE.encode() + b"=" + secret.encode("latin-1") + _csrf_cookie_attributes(production)


def set_cookie(response: Response, name: str, value: str, *, max_age: int | None = None) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=get_settings().is_production,
        path="/",
    )


def flash(response: Response, message: str, category: str = "info") -> None:
    signed = _serializer(get_settings(), "flash").dumps([category, message])
    set_cookie(response, FLASH_COOKIE, signed, max_age=60)


def pop_flash(request: Request) -> list[tuple[str, str]]:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw or getattr(request.state, "flash_read", False):
        return []
    request.state.flash_read = True
    try:
        category, message = _serializer(get_settings(), "flash").loads(raw, max_age=300)
    except (BadSignature, SignatureExpired, ValueError):
        return []
    return [(str(category), str(message))]


def redirect(url: str, message: str | None = None, category: str = "info") -> RedirectResponse:
    """POST → 303 → GET, optionally with a flash message for the next page."""
    response = RedirectResponse(url, status_code=303)
    if message:
        flash(response, message, category)
    return response


def is_htmx(request: Request) -> bool:
    """The request comes from htmx (it wants a fragment to swap in, not a page or a redirect)."""
    return bool(request.headers.get("hx-request"))


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    block_name: str | None = None,
) -> Response:
    ctx: dict[str, Any] = {
        "settings": get_settings(),
        "csrf_token": csrf_token(request),
        "flashes": pop_flash(request),
        "staff_user": getattr(request.state, "staff_user", None),
        "cart_count": getattr(request.state, "cart_count", 0),
        "htmx": is_htmx(request),
    }
    ctx.update(context or {})
    if block_name is None and ctx["htmx"] and "hx_block" in ctx:
        block_name = ctx["hx_block"]
    response = templates.TemplateResponse(request, name, ctx, status_code=status_code, block_name=block_name)
    if getattr(request.state, "flash_read", False):
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response
