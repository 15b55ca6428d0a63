"""`storefront`: serve, migrate, demo-data, staff, worker, reconcile, catalogue, check, webhooks, backups.

Every command is wrapped in `_one_line_errors`: an error an operator can fix (settings, database,
Redis, a busy port, a folder that cannot be written) prints one line on stderr and exits 1; bad usage
exits 2 (typer); anything else is a bug and keeps its traceback."""

from __future__ import annotations

import contextlib
import getpass
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from functools import wraps
from pathlib import Path
from typing import Any

import typer

from store.config import LOCALSTRIPE_PORT

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Red Revolution Media storefront")
staff_app = typer.Typer(no_args_is_help=True, help="Staff accounts")
app.add_typer(staff_app, name="staff")
catalogue_app = typer.Typer(no_args_is_help=True, help="The catalogue as CSV (Shopify's product columns)")
app.add_typer(catalogue_app, name="catalogue")
webhooks_app = typer.Typer(no_args_is_help=True, help="Stripe's and Printful's webhooks")
app.add_typer(webhooks_app, name="webhooks")

log = logging.getLogger("store.cli")
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's own name; store.metrics reads it


class CliError(Exception):
    """An expected failure: one line on stderr, exit 1."""


def _expected_error(exc: Exception) -> str | None:
    """The one line to print for an error an operator can fix, or None for a bug (traceback)."""
    from alembic.util.exc import CommandError
    from pydantic import ValidationError
    from sqlalchemy.exc import ArgumentError, OperationalError, ProgrammingError

    from store.errors import DomainError

    if isinstance(exc, CliError | DomainError):
        return str(exc)
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        message = str(first.get("msg", exc)).removeprefix("Value error, ")
        loc = first.get("loc") or ()
        if exc.title == "Settings" and loc:
            return f"configuration: STORE_{str(loc[0]).upper()}: {message}"
        return f"configuration: {message}"
    if isinstance(exc, OperationalError | ProgrammingError):
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        if "no such table" in reason or ("relation" in reason and "does not exist" in reason):
            return f"the database has no tables yet ({reason}): run `storefront migrate` first"
        return f"database unavailable: {reason}"
    if isinstance(exc, ArgumentError):  # includes NoSuchModuleError (an unknown dialect)
        return f"STORE_DATABASE_URL is not a database URL SQLAlchemy can use: {exc}"
    if isinstance(exc, CommandError):
        return f"migrations: {exc}"
    if isinstance(exc, OSError):
        # A folder that cannot be made or written (var/, STORE_MEDIA_DIR …), a port, a device.
        if exc.filename:
            return f"cannot create or write {exc.filename}: {exc.strerror}"
        return exc.strerror or str(exc)
    return None


def _one_line_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Expected errors (contract): one line on stderr and exit 1, never a traceback."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            message = _expected_error(exc)
            if message is None:
                raise
            log.debug("command failed", exc_info=True)
            typer.echo(f"error: {message}", err=True)
            raise typer.Exit(1) from None

    return wrapper


def _quiet_logs() -> None:
    """For commands whose printed lines say everything: the calls' own log lines would only repeat them."""
    logging.getLogger("store").setLevel(logging.CRITICAL)


def _settings():  # type: ignore[no-untyped-def]
    from store.config import get_settings

    return get_settings()


def _check_database(settings: Any) -> None:
    """Connect once now, so an unreachable database is one line at start, not errors in every job."""
    from sqlalchemy import text

    from store.db import get_engine

    with get_engine(settings).connect() as conn:
        conn.execute(text("SELECT 1"))


def _check_redis(settings: Any) -> None:
    if not settings.redis_url:
        return
    import redis

    try:
        redis.Redis.from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=2).ping()
    except (redis.RedisError, ValueError) as exc:
        raise CliError(f"Redis at STORE_REDIS_URL is unavailable: {exc}") from exc


def _check_folders(settings: Any) -> None:
    """The folders serve writes to exist and take a file (var/ for SQLite, media, the mail outbox)."""
    from pathlib import Path

    folders = [Path(settings.media_dir)]
    if settings.is_sqlite and settings.database_url.split("///", 1)[-1] not in ("", ":memory:"):
        folders.append(Path(settings.database_url.split("///", 1)[-1]).parent)
    if not settings.smtp_url:
        folders.append(Path(settings.outbox_dir))
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".storefront-write-check-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()


def _check_port(host: str, port: int) -> None:
    from store.ports import listen_problem

    problem = listen_problem(host, port)
    if problem == "in use":
        raise CliError(f"port {port} on {host} is in use: stop what holds it, or choose another with --port")
    if problem:
        raise CliError(f"cannot serve on {host}:{port}: {problem}")


def _require_demo_extra() -> None:
    try:
        import aiohttp  # noqa: F401
        import localstripe  # noqa: F401
    except ImportError as exc:
        raise CliError(
            f"--demo needs the test payment server ({exc.name} is not installed): "
            "pip install -e '.[demo]' (make run does this)"
        ) from exc


@app.command()
@_one_line_errors
def migrate() -> None:
    """Apply pending database migrations."""
    from store.migrate import upgrade

    upgrade(_settings())
    typer.echo("database is up to date")


@app.command("demo-data")
@_one_line_errors
def demo_data() -> None:
    """Load demo articles, catalogue and staff into an empty database."""
    from store.db import get_engine, unit_of_work
    from store.demo.load import load_demo_data
    from store.migrate import upgrade

    settings = _settings()
    upgrade(settings)
    from store.progress import progress_bar

    with progress_bar() as progress, unit_of_work(get_engine(settings)) as session:
        load_demo_data(session, progress=progress)
    typer.echo("demo data loaded")


@staff_app.command("add")
@_one_line_errors
def staff_add(
    email: str,
    role: str = typer.Option(..., "--role", help="owner | editor | catalogue | fulfilment"),
) -> None:
    """Create a staff account (password from STORE_STAFF_PASSWORD or a prompt)."""
    from store.auth.models import Role
    from store.auth.service import create_staff
    from store.db import get_engine, unit_of_work

    if role not in Role.__members__:
        typer.echo(f"error: --role must be one of: {', '.join(Role.__members__)}", err=True)
        raise typer.Exit(2)
    password = os.environ.get("STORE_STAFF_PASSWORD")
    if not password:
        if not sys.stdin.isatty():
            raise CliError("set STORE_STAFF_PASSWORD or run in a terminal to be asked for a password")
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Password again: "):
            raise CliError("the passwords did not match")
    # Not read-modify-write: the password is hashed (slow on purpose) before the first write.
    with unit_of_work(get_engine(_settings()), write=False) as session:
        user = create_staff(session, email=email, password=password, role=role)
    typer.echo(f"staff account {user.email} created with role {user.role}")


@app.command()
@_one_line_errors
def worker(workers: int = typer.Option(2, min=1, help="threads running jobs")) -> None:
    """Run background jobs until stopped (any number of workers may run at once)."""
    settings = _settings()
    _check_database(settings)
    _check_redis(settings)
    from store.logging_setup import configure_logging
    from store.worker import run_worker

    configure_logging(settings)  # its jobs' lines (webhooks processed, emails sent, orders submitted)

    run_worker(workers=workers)


@app.command()
@_one_line_errors
def reconcile(
    older_than: int = typer.Option(30, "--older-than", min=0, help="minutes since last change"),
) -> None:
    """Ask Stripe and the print provider about stale orders and repair what a lost webhook left behind."""
    from store.progress import progress_bar
    from store.reconcile import reconcile_all

    with progress_bar() as progress:
        for line in reconcile_all(older_than_minutes=older_than, progress=progress):
            typer.echo(line)


@catalogue_app.command("export")
@_one_line_errors
def catalogue_export(path: Path = typer.Argument(..., metavar="FILE.csv")) -> None:
    """Write every product, its variants and pictures to FILE.csv (Shopify's product columns)."""
    from catalog.csv_io import export_file

    settings = _settings()
    try:
        export_file(path, base_url=settings.base_url)
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror or exc}")
    typer.echo(f"catalogue written to {path}")


@catalogue_app.command("import")
@_one_line_errors
def catalogue_import(path: Path = typer.Argument(..., metavar="FILE.csv")) -> None:
    """Create or update products from FILE.csv; all or nothing, every bad row reported; never deletes."""
    from catalog.csv_io import ImportRefused, import_csv
    from store.progress import progress_bar

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}")
    try:
        with progress_bar() as progress:
            report = import_csv(data, progress=progress)
    except ImportRefused as exc:
        for problem in exc.problems:
            typer.echo(f"{path}: {problem}", err=True)
        raise CliError(exc.message)
    typer.echo(f"catalogue imported: {report.summary()}")


@app.command()
@_one_line_errors
def check(as_json: bool = typer.Option(False, "--json", help="one JSON object for machines")) -> None:
    """Preflight for going live: one line per check, ✓ or ✗ with the fix; exit 0 only when all pass."""
    import json

    from pydantic import ValidationError

    from store.config import get_settings
    from store.ops.check import Result, run_checks

    _quiet_logs()
    try:
        results = run_checks(get_settings())
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "settings"
        detail = f"{where}: {first.get('msg', exc)}"
        results = [Result("Settings", False, detail, "fix it in the environment or .env")]
    ok = all(r.ok for r in results)
    if as_json:
        typer.echo(json.dumps({"ok": ok, "checks": [r.as_dict() for r in results]}, ensure_ascii=False))
    else:
        for result in results:
            typer.echo(result.line())
        passed = sum(r.ok for r in results)
        advice = "" if ok else "; fix the ✗ lines and run it again"
        typer.echo(f"{passed} of {len(results)} checks passed{advice}")
    raise typer.Exit(0 if ok else 1)


@webhooks_app.command("register")
@_one_line_errors
def webhooks_register() -> None:
    """Create or update (never duplicate) the Stripe and Printful webhooks for STORE_BASE_URL."""
    from store.fulfilment.providers import ProviderError
    from store.ops.webhooks import register_webhooks
    from store.payment import PaymentError

    _quiet_logs()
    try:
        lines = register_webhooks(_settings())
    except (PaymentError, ProviderError) as exc:
        raise CliError(str(exc).splitlines()[0]) from exc
    for line in lines:
        typer.echo(line)


@app.command()
@_one_line_errors
def backup(dest: Path = typer.Argument(..., help="a new (or empty) folder for the backup")) -> None:
    """A consistent copy of the database and the media folder, taken while the shop serves."""
    from store.ops.backup import backup as make_backup

    try:
        summary = make_backup(_settings(), dest)
    except OSError as exc:  # a folder we may not write, a full disk
        raise CliError(f"{exc.filename or dest}: {exc.strerror or exc}") from exc
    typer.echo(f"backed up {summary.describe()} to {dest}")


@app.command()
@_one_line_errors
def restore(src: Path = typer.Argument(..., help="a folder written by `storefront backup`")) -> None:
    """Restore a backup into an EMPTY database (and the media folder); stop the shop first."""
    from store.ops.backup import restore as do_restore

    try:
        summary = do_restore(_settings(), src)
    except OSError as exc:
        raise CliError(f"{exc.filename or src}: {exc.strerror or exc}") from exc
    typer.echo(f"restored {summary.describe()} from {src}")


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def _demo_services(settings: Any) -> Iterator[None]:
    """localstripe and a job worker beside the web server, stopped when it stops."""
    from store.payment.localstripe_server import LocalstripeError, register_webhook, start_localstripe_process

    children: list[subprocess.Popen[bytes]] = []
    try:
        try:
            children.append(start_localstripe_process(LOCALSTRIPE_PORT))
        except LocalstripeError as exc:
            raise CliError(str(exc)) from exc
        register_webhook(
            settings.stripe_api_base,
            "storefront",
            settings.base_url.rstrip("/") + "/webhooks/stripe",
            settings.stripe_webhook_secret,
        )
        children.append(subprocess.Popen([sys.executable, "-m", "store.cli", "worker"]))
        yield
    finally:
        for child in reversed(children):
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=10)
            if child.poll() is None:
                child.kill()


def _prepare_metrics_dir(settings: Any, port: int) -> None:
    """Per-request metrics from every worker process go to files here; a scrape sums them.

    Must be set before prometheus_client is first imported, and emptied at each start (its rule).
    """
    import shutil

    folder = Path(os.environ.get(METRICS_DIR_ENV) or Path(settings.var_dir) / f"metrics-{port}")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    os.environ[METRICS_DIR_ENV] = str(folder.resolve())


@app.command()
@_one_line_errors
def serve(
    host: str = typer.Option("127.0.0.1"),
    port: int = typer.Option(8000, min=1, max=65535),
    workers: int = typer.Option(1, min=1),
    demo: bool = typer.Option(False, "--demo", help="demo data, test payments and a worker, all local"),
    access_log: bool = typer.Option(
        True, "--access-log/--no-access-log", help="a JSON line per request (off if the proxy logs them)"
    ),
) -> None:
    """Apply pending migrations and serve the site."""
    import uvicorn

    from store.config import get_settings

    if demo:
        # Demo mode talks to the local test payment server unless told otherwise.
        os.environ.setdefault("STORE_STRIPE_API_BASE", f"http://127.0.0.1:{LOCALSTRIPE_PORT}")
        os.environ.setdefault("STORE_STRIPE_JS_URL", f"http://127.0.0.1:{LOCALSTRIPE_PORT}/js.stripe.com/v3/")
        os.environ.setdefault("STORE_BASE_URL", f"http://{host}:{port}")
        get_settings.cache_clear()
    settings = get_settings()
    if demo and settings.is_production:
        raise CliError("--demo is for trying the shop locally; it refuses STORE_ENV=production")
    if demo and not settings.stripe_is_local:
        raise CliError("--demo needs STORE_STRIPE_API_BASE on this machine (localstripe)")
    # Everything an operator can fix is checked before anything starts, so it is one line, not a
    # traceback from uvicorn or a child process half-way up.
    _check_port(host, port)
    if demo:
        _require_demo_extra()
        from store.payment.localstripe_server import LocalstripeError, check_port

        try:
            check_port(LOCALSTRIPE_PORT)
        except LocalstripeError as exc:
            raise CliError(str(exc)) from exc
    _check_folders(settings)
    _check_redis(settings)
    _prepare_metrics_dir(settings, port)  # before anything imports prometheus_client

    from store.migrate import upgrade

    upgrade(settings)
    import store.asgi  # noqa: F401  (builds the app now: what it refuses is one line here, not in uvicorn)

    stack = contextlib.ExitStack()
    if demo:
        from store.db import get_engine, unit_of_work
        from store.demo.load import database_is_empty, load_demo_data

        with unit_of_work(get_engine(settings)) as session:
            if database_is_empty(session):
                typer.echo("loading demo data …")
                load_demo_data(session)
        stack.enter_context(_demo_services(settings))
        # uvicorn answers SIGTERM by shutting down and then raising the signal again, with the handler
        # it found: the default one ends the process there, before `stack` stops the demo's worker
        # (left running, it took the next run's jobs). This one makes it an exit that unwinds `stack`.
        signal.signal(signal.SIGTERM, _exit_on_signal)
        typer.echo(
            f"Demo shop on {settings.base_url}  (staff: owner@example.com / demo-owner-password; "
            "test card 4242 4242 4242 4242). Ctrl-C stops everything."
        )
    from store.logging_setup import uvicorn_log_config

    with stack:
        uvicorn.run(
            "store.asgi:app",
            host=host,
            port=port,
            workers=workers,
            # The app applies X-Forwarded-* itself, from STORE_TRUSTED_PROXIES only (store.app).
            proxy_headers=False,
            log_config=uvicorn_log_config(),
            log_level="info",
            # The demo's terminal stays readable; production logs every request (~15 µs of CPU each,
            # more than a cached page: --no-access-log when nginx in front logs them already).
            access_log=access_log and not demo,
        )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
