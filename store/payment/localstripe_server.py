"""localstripe (an offline Stripe) for demo mode and tests, bound to loopback only.

Run it with ``python -m store.payment.localstripe_server --port 8420``. Compared with localstripe's own
``localstripe`` command this:

* listens on 127.0.0.1 only (its own command binds ``::`` on every interface);
* never pickles its store to /tmp/localstripe.pickle nor loads it back: a demo or a test run starts empty,
  two runs cannot see each other's data, and a write no longer costs a pickle of the whole store;
* accepts ``automatic_payment_methods[enabled]=true&automatic_payment_methods[allow_redirects]=never`` on
  PaymentIntent and SetupIntent creation (and ignores it: localstripe only knows cards, which never
  redirect). Real Stripe needs it since the API version stripe 16.1 pins (2026-10-28.endive): there
  ``payment_method_types`` is gone (400 ``payment_method_types_no_longer_supported``) and a server-side
  ``confirm=true`` without it asks for a ``return_url``, which localstripe refuses. Any other value still
  answers 400, so a call that would misbehave on real Stripe is not hidden;
* honours ``Idempotency-Key`` like Stripe does (localstripe ignores it): the first response to a key is
  replayed for a repeat of the same request, and reusing a key for a different request answers 400
  ``idempotency_error``. Without this a retried ``pay()`` would create a second PaymentIntent here while
  real Stripe would not, and the tests could not prove our keys are sent;
* answers Stripe's ``/v1/webhook_endpoints`` (localstripe_endpoints.py), so ``storefront webhooks register``
  and ``storefront check`` work against the demo too.

Only this module and the tests import localstripe; it is a dev/demo dependency in spirit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Middleware

from store.config import LOCALSTRIPE_PORT
from store.payment import localstripe_endpoints
from store.ports import listen_problem

logger = logging.getLogger("store.payment.localstripe")

HOST = "127.0.0.1"
# Stripe keeps keys for 24 hours; a demo process needs only a bound on memory.
_MAX_REMEMBERED_KEYS = 50_000
# What the mock Stripe.js answers with; proves the port is localstripe and not something else.
_READY_MARKER = b"localstripe"


class LocalstripeError(RuntimeError):
    """localstripe did not start, or refused a configuration call."""


# --------------------------------------------------------------------------------------------------
# The server (runs in the child process)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Replay:
    fingerprint: str
    status: int
    body: bytes
    content_type: str


_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _idempotency_middleware() -> Middleware:
    replays: OrderedDict[tuple[str, str], _Replay] = OrderedDict()
    in_flight: set[tuple[str, str]] = set()

    def _error(status: int, type_: str, message: str) -> web.Response:
        return web.json_response({"error": {"type": type_, "message": message}}, status=status)

    @web.middleware
    async def middleware(request: web.Request, handler: _Handler) -> web.StreamResponse:
        key = request.headers.get("Idempotency-Key")
        if request.method != "POST" or not key:
            response = await handler(request)
            if request.method == "DELETE" and request.path == "/_config/data":
                replays.clear()  # emptying the store must also forget what it would replay
                localstripe_endpoints.forget_all()
            return response

        # Stripe scopes keys per account; the API key stands in for the account here.
        scope = (hashlib.sha256(request.headers.get("Authorization", "").encode()).hexdigest(), key)
        body = await request.read()  # aiohttp caches it, so localstripe's handlers can still read it
        fingerprint = hashlib.sha256(request.path.encode() + b"\0" + body).hexdigest()

        seen = replays.get(scope)
        if seen is not None:
            if seen.fingerprint != fingerprint:
                return _error(
                    400,
                    "idempotency_error",
                    "Keys for idempotent requests can only be used with the same parameters they were "
                    "first used with.",
                )
            return web.Response(
                body=seen.body,
                status=seen.status,
                content_type=seen.content_type,
                headers={"Idempotent-Replayed": "true", "Idempotency-Key": key},
            )
        if scope in in_flight:
            # Same answer as Stripe; the SDK retries 409 by itself.
            return _error(
                409,
                "idempotency_error",
                "There is currently another in-progress request "
                "using this Stripe token (probably the same idempotency key).",
            )

        in_flight.add(scope)
        try:
            response = await handler(request)
        finally:
            in_flight.discard(scope)
        # Stripe saves any result once the endpoint ran (errors included), but not an auth failure.
        if isinstance(response, web.Response) and isinstance(response.body, bytes) and response.status != 401:
            replays[scope] = _Replay(fingerprint, response.status, response.body, response.content_type)
            while len(replays) > _MAX_REMEMBERED_KEYS:
                replays.popitem(last=False)
        return response

    return middleware


def _accept_no_redirect_automatic_payment_methods() -> None:
    from localstripe import resources
    from localstripe.errors import UserError

    def checked(value: object) -> None:
        # Form encoding turns the booleans into strings; JSON bodies (Stripe.js mock) keep them.
        if value is None:
            return
        if not isinstance(value, dict) or {str(k): str(v).lower() for k, v in value.items()} != {
            "enabled": "true",
            "allow_redirects": "never",
        }:
            raise UserError(
                400,
                "localstripe only supports automatic_payment_methods with "
                "enabled=true and allow_redirects=never",
            )

    for cls in (resources.PaymentIntent, resources.SetupIntent):
        if getattr(cls, "_storefront_patched", False):
            continue
        original = cls.__dict__.get("_api_create")
        create = original.__func__ if isinstance(original, classmethod) else None

        def _api_create(
            cls: type, automatic_payment_methods: object = None, _create: object = create, **data: object
        ) -> object:
            checked(automatic_payment_methods)
            if _create is not None:
                return _create(cls, **data)  # type: ignore[operator]
            return cls(**data)

        cls._api_create = classmethod(_api_create)  # type: ignore[assignment,attr-defined]
        cls._storefront_patched = True  # type: ignore[attr-defined]


def build_app() -> web.Application:
    """localstripe's aiohttp app with disk persistence off and Idempotency-Key honoured.

    localstripe keeps one module-level app and store, so call this once per process.
    """
    from localstripe import resources, server

    # Store.__setitem__/__delitem__ and a middleware call dump_to_disk() on every write; one no-op on the
    # class stops all of them. We never call try_load_from_disk(), so nothing old is loaded either.
    resources.Store.dump_to_disk = lambda self: None  # type: ignore[method-assign]
    _accept_no_redirect_automatic_payment_methods()

    app: web.Application = server.app
    localstripe_endpoints.add_routes(app)  # Stripe's /v1/webhook_endpoints, which localstripe lacks
    # Outermost, so localstripe's own error middleware has already turned its errors into responses.
    app.middlewares.insert(0, _idempotency_middleware())
    return app


def _exit_with_parent(parent_pid: int) -> Callable[[web.Application], Awaitable[None]]:
    """Stop when the process that started us is gone, so a killed `serve --demo` leaves no orphan."""

    async def watch() -> None:
        while os.getppid() == parent_pid:
            await asyncio.sleep(1)
        os.kill(os.getpid(), signal.SIGTERM)  # run_app turns SIGTERM into a clean shutdown

    async def on_startup(app: web.Application) -> None:
        app["_parent_watch"] = asyncio.get_running_loop().create_task(watch())

    return on_startup


def serve(port: int = LOCALSTRIPE_PORT, *, exit_with_parent: bool = False) -> None:
    """Serve until SIGINT/SIGTERM. Blocks."""
    app = build_app()
    if exit_with_parent:
        app.on_startup.append(_exit_with_parent(os.getppid()))
    # Bind the socket ourselves so `--port 0` works and the real port can be printed.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, port))
    bound = sock.getsockname()[1]
    print(f"localstripe listening on http://{HOST}:{bound}", flush=True)
    web.run_app(app, sock=sock, print=None, access_log=None, handle_signals=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run localstripe (offline Stripe) on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=LOCALSTRIPE_PORT)
    parser.add_argument("--exit-with-parent", action="store_true", help="stop when the parent process dies")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    try:
        serve(args.port, exit_with_parent=args.exit_with_parent)
    except OSError as exc:
        print(f"localstripe: cannot listen on {HOST}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 1
    return 0


# --------------------------------------------------------------------------------------------------
# Helpers for the parent process (CLI `serve --demo`, tests)
# --------------------------------------------------------------------------------------------------


def base_url_for(port: int) -> str:
    return f"http://{HOST}:{port}"


def wait_until_ready(
    base_url: str, timeout: float = 10.0, *, proc: subprocess.Popen[bytes] | None = None
) -> None:
    """Poll until localstripe answers at base_url; LocalstripeError after timeout or if proc exits."""
    deadline = time.monotonic() + timeout
    url = base_url.rstrip("/") + "/js.stripe.com/v3/"
    last_error = "no answer"
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise LocalstripeError(f"localstripe exited with code {proc.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - loopback URL we built
                if response.status == 200 and _READY_MARKER in response.read():
                    return
                last_error = f"unexpected answer {response.status}"
        except (urllib.error.URLError, OSError) as exc:
            last_error = str(exc)
        time.sleep(0.05)
    raise LocalstripeError(f"localstripe at {base_url} not ready after {timeout:.0f} s: {last_error}")


def _post_form(url: str, fields: list[tuple[str, str]], *, method: str = "POST") -> None:
    from urllib.parse import urlencode

    data = urlencode(fields).encode()
    request = urllib.request.Request(url, data=data or None, method=method)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - loopback URL
            response.read()
    except urllib.error.HTTPError as exc:
        raise LocalstripeError(f"{method} {url} answered {exc.code}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise LocalstripeError(f"{method} {url} failed: {exc}") from exc


def register_webhook(
    base_url: str, name: str, url: str, secret: str, events: list[str] | None = None
) -> None:
    """Ask localstripe to POST its events to url, signed with secret (like Stripe's endpoint secret).

    Registering the same name again replaces it. localstripe sends each event once, about a second after
    it happens, and never retries; registrations live in memory and die with the process.
    """
    fields = [("url", url), ("secret", secret)]
    # localstripe wants a real list: the form encoding `events[]=a&events[]=b` becomes one.
    fields += [("events[]", event) for event in events or []]
    _post_form(f"{base_url.rstrip('/')}/_config/webhooks/{name}", fields)


def flush_data(base_url: str) -> None:
    """Empty localstripe's store (and the remembered idempotency keys)."""
    _post_form(f"{base_url.rstrip('/')}/_config/data", [], method="DELETE")


def check_port(port: int) -> None:
    """LocalstripeError (one line: which port, what to do) unless localstripe could listen there now."""
    problem = listen_problem(HOST, port)
    if problem == "in use":
        raise LocalstripeError(
            f"port {port} on {HOST} is in use, and test payments (localstripe) need it: "
            "stop what holds it (another `make run`?) and try again"
        )
    if problem:
        raise LocalstripeError(f"test payments (localstripe) cannot listen on {HOST}:{port}: {problem}")


def start_localstripe_process(
    port: int = LOCALSTRIPE_PORT, *, timeout: float = 15.0, quiet: bool = False
) -> subprocess.Popen[bytes]:
    """Start localstripe in a child process and return once it answers. The caller terminates it.

    Refuses a port that is already taken rather than talk to whatever holds it (an old localstripe with
    someone else's data, say). The child also stops by itself if this process dies.
    """
    check_port(port)
    output = subprocess.DEVNULL if quiet else None
    proc = subprocess.Popen(
        [sys.executable, "-m", "store.payment.localstripe_server", "--port", str(port), "--exit-with-parent"],
        stdout=output,
        stderr=output,
    )
    try:
        wait_until_ready(base_url_for(port), timeout, proc=proc)
    except BaseException:
        stop_localstripe_process(proc)
        raise
    logger.info("localstripe started", extra={"port": port, "pid": proc.pid})
    return proc


def stop_localstripe_process(proc: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    """SIGTERM, then SIGKILL if it has not gone after timeout seconds."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout)


__all__ = [
    "LocalstripeError",
    "base_url_for",
    "check_port",
    "build_app",
    "flush_data",
    "main",
    "register_webhook",
    "serve",
    "start_localstripe_process",
    "stop_localstripe_process",
    "wait_until_ready",
]

if __name__ == "__main__":
    sys.exit(main())
