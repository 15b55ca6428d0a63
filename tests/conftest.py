"""Test set-up shared by the whole suite.

The database is SQLite in a fresh temporary folder, or PostgreSQL when STORE_TEST_POSTGRES_URL is
set (CI runs the suite both ways). Every test starts from empty tables: we truncate rather than roll
back a wrapping transaction (polar's way) because browser tests and real worker processes must see
committed data through their own connections.

Where things are: fixtures for fake outside servers (localstripe, Printful, SMTP) in
tests/fakes/fixtures.py, the servers beside it; products, carts, orders, donations and staff in
tests/factories.py. Both are plugins (pytest_plugins below), so their fixtures need no import.
"""

from __future__ import annotations

import errno
import os
import re
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

_TMP = Path(tempfile.mkdtemp(prefix="storefront-test-"))
POSTGRES_URL = os.environ.get("STORE_TEST_POSTGRES_URL", "")
os.environ["STORE_ENV"] = "test"
os.environ["STORE_DATABASE_URL"] = POSTGRES_URL or f"sqlite:///{_TMP / 'test.db'}"
os.environ["STORE_MEDIA_DIR"] = str(_TMP / "media")
os.environ["STORE_OUTBOX_DIR"] = str(_TMP / "outbox")
os.environ["STORE_SECRET_KEY"] = "test-secret-key-" + "x" * 32
os.environ["STORE_BASE_URL"] = "http://testserver"
os.environ.pop("STORE_REDIS_URL", None)
os.environ.pop("STORE_SMTP_URL", None)

from sqlalchemy import text  # noqa: E402
from sqlmodel import Session, SQLModel  # noqa: E402

from store.config import get_settings  # noqa: E402
from store.db import get_engine  # noqa: E402

# One module for the fakes' fixtures (localstripe, Printful, SMTP) and one for factories.
pytest_plugins = ["tests.fakes.fixtures", "tests.factories"]

REQUIRE_BROWSER = os.environ.get("STORE_REQUIRE_BROWSER") == "1"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def leave_time_wait(port: int) -> None:
    """What a stopped server leaves: a connection to 127.0.0.1:port that waits in TIME_WAIT for a minute.

    A listener accepts one connection and closes its end first (the active close), so that end —
    local address 127.0.0.1:port — goes to TIME_WAIT; then the listener goes away.
    """
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen()
        with socket.create_connection(("127.0.0.1", port)) as client:
            served, _ = listener.accept()
            served.close()
            client.recv(1)  # the server's FIN has arrived; closing now completes the handshake


def in_time_wait(port: int) -> bool:
    """True while a plain bind (no SO_REUSEADDR, as the old port check did) is refused."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


@pytest.fixture(scope="session")
def engine():  # type: ignore[no-untyped-def]
    settings = get_settings()
    eng = get_engine(settings)
    if settings.database_url.startswith("postgresql"):
        with eng.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    from store.migrate import upgrade

    upgrade(settings)
    from store.jobs import huey

    huey.immediate = True  # jobs run inline unless a test starts a real worker
    return eng


def _truncate(eng) -> None:  # type: ignore[no-untyped-def]
    import store.models  # noqa: F401

    tables = [t.name for t in SQLModel.metadata.sorted_tables]
    with eng.begin() as conn:
        if eng.dialect.name == "postgresql":
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
        else:
            for name in reversed(tables):
                conn.execute(text(f'DELETE FROM "{name}"'))


@pytest.fixture(autouse=True)
def clean_state(request: pytest.FixtureRequest) -> Iterator[None]:
    if "no_db" in request.keywords:
        yield
        return
    eng = request.getfixturevalue("engine")
    _truncate(eng)
    from store.auth.service import limiter

    limiter().storage.reset()
    from store import db as store_db

    store_db.violations.clear()
    yield
    # store.db records slow work under the SQLite write lock (an outside call, a long hold): fail on it.
    found, store_db.violations[:] = list(store_db.violations), []
    assert not found, "write-lock misuse: " + "; ".join(found)


@pytest.fixture
def db(engine) -> Iterator[Session]:  # type: ignore[no-untyped-def]
    """A session for arranging and checking data; commit what you arrange."""
    with Session(engine, expire_on_commit=False) as session:
        yield session


@pytest.fixture
def app(engine, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    from store.app import create_app

    # Built after the fakes the test points it at: create_app reads settings once (the CSP names
    # localstripe's Stripe.js), so a test that uses stripe_env gets an app that talks to it.
    if "stripe_env" in request.fixturenames:
        request.getfixturevalue("stripe_env")
    return create_app(get_settings())


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "page has no csrf_token field"
    return match.group(1)


def get_csrf(client, path: str = "/staff/login") -> str:  # type: ignore[no-untyped-def]
    return csrf_from(client.get(path).text)


def soup(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


@pytest.fixture
def login_as(client, make_staff):  # type: ignore[no-untyped-def]
    def login(role: str) -> None:
        email = make_staff(role)
        token = get_csrf(client)
        r = client.post(
            "/staff/login",
            data={"email": email, "password": "correct-horse-battery", "csrf_token": token},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text

    return login


# --- a real server for browser tests and other processes -----------------------------------------


class LiveServer:
    def __init__(self, app) -> None:  # type: ignore[no-untyped-def]
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.time() + 15
        while not self.server.started:
            if time.time() > deadline:
                raise RuntimeError("live server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def live_server(app) -> Iterator[LiveServer]:  # type: ignore[no-untyped-def]
    server = LiveServer(app)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def _playwright_browser():  # type: ignore[no-untyped-def]
    if not Path(CHROMIUM).exists():
        if REQUIRE_BROWSER:
            pytest.fail(f"{CHROMIUM} is missing and STORE_REQUIRE_BROWSER=1")
        pytest.skip("Debian chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(_playwright_browser):  # type: ignore[no-untyped-def]
    context = _playwright_browser.new_context(locale="en-GB")
    pg = context.new_page()
    pg.set_default_timeout(10_000)
    yield pg
    context.close()


def pytest_collection_modifyitems(config, items):  # type: ignore[no-untyped-def]
    for item in items:
        if "postgres" in item.keywords and not POSTGRES_URL:
            item.add_marker(pytest.mark.skip(reason="STORE_TEST_POSTGRES_URL is not set"))


def pytest_configure(config):  # type: ignore[no-untyped-def]
    config.addinivalue_line("markers", "no_db: the test needs no database")


@pytest.fixture(scope="session", autouse=True)
def _cleanup_tmp() -> Iterator[None]:
    yield
    import shutil

    shutil.rmtree(_TMP, ignore_errors=True)
