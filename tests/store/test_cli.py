"""The `storefront` command as an operator runs it: real processes, exit codes, one-line errors."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from tests.conftest import free_port, in_time_wait, leave_time_wait


def run(*args, env=None, db_url):
    environ = {**os.environ, "STORE_DATABASE_URL": db_url, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "store.cli", *args], capture_output=True, text=True, env=environ, timeout=120
    )


@pytest.fixture
def db_url(tmp_path):
    return f"sqlite:///{tmp_path / 'cli.db'}"


@pytest.mark.no_db
def test_migrate_demo_data_and_staff_add(db_url, tmp_path):
    env = {"STORE_MEDIA_DIR": str(tmp_path / "media")}
    assert run("migrate", db_url=db_url, env=env).returncode == 0
    first = run("demo-data", db_url=db_url, env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "demo data loaded"

    again = run("demo-data", db_url=db_url, env=env)
    assert again.returncode == 1
    assert again.stderr.strip() == "error: The database already has data; demo data only goes into an empty one."

    added = run("staff", "add", "new@example.com", "--role", "editor", db_url=db_url,
                env={**env, "STORE_STAFF_PASSWORD": "a-long-enough-password"})
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "staff account new@example.com created with role editor"

    duplicate = run("staff", "add", "new@example.com", "--role", "editor", db_url=db_url,
                    env={**env, "STORE_STAFF_PASSWORD": "a-long-enough-password"})
    assert duplicate.returncode == 1
    assert duplicate.stderr.strip() == "error: A staff account with that email already exists"
    assert "Traceback" not in duplicate.stderr


@pytest.mark.no_db
def test_bad_usage_exits_2_and_bad_role_is_named(db_url):
    bad_role = run("staff", "add", "x@example.com", "--role", "boss", db_url=db_url,
                   env={"STORE_STAFF_PASSWORD": "a-long-enough-password"})
    assert bad_role.returncode == 2
    assert "owner, editor, catalogue, fulfilment" in bad_role.stderr
    assert run("no-such-command", db_url=db_url).returncode == 2


@pytest.mark.no_db
def test_short_password_and_missing_password_are_one_line_errors(db_url):
    short = run("staff", "add", "x@example.com", "--role", "owner", db_url=db_url,
                env={"STORE_STAFF_PASSWORD": "short"})
    assert short.returncode == 1
    assert short.stderr.strip() == "error: Password must be at least 12 characters"


@pytest.mark.no_db
def test_production_with_default_secret_refuses_to_start(db_url):
    result = run("migrate", db_url=db_url, env={"STORE_ENV": "production", "STORE_SECRET_KEY": "short"})
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "STORE_SECRET_KEY" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.no_db
def test_unreachable_database_is_a_one_line_error():
    result = run("migrate", db_url="postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert result.returncode == 1
    assert result.stderr.startswith("error: database unavailable")
    assert "Traceback" not in result.stderr


@pytest.mark.no_db
def test_staff_add_refuses_an_address_mail_cannot_reach(db_url):
    assert run("migrate", db_url=db_url).returncode == 0
    for bad in ("owner@localhost", "owner@@example.org", "owner"):
        result = run("staff", "add", bad, "--role", "owner", db_url=db_url,
                     env={"STORE_STAFF_PASSWORD": "a-long-enough-password"})
        assert (result.returncode, result.stderr) == (1, "error: Enter a valid email address\n"), bad


# --- every path an operator takes: expected errors are one line on stderr, exit 1 (2 for bad usage) ----


def one_line(result) -> str:  # type: ignore[no-untyped-def]
    """The error line, after checking it is the only output on stderr and there is no traceback."""
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    return result.stderr.rstrip("\n")


@pytest.fixture
def blocked(tmp_path):  # type: ignore[no-untyped-def]
    """A plain file where a folder should be: a path nobody (not even root) can create a folder under."""
    path = tmp_path / "blocker"
    path.write_text("")
    return path


@pytest.mark.no_db
def test_serve_on_a_busy_port_says_which_and_what_to_do(db_url):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = run("serve", "--port", str(port), db_url=db_url)
    assert one_line(result) == (
        f"error: port {port} on 127.0.0.1 is in use: stop what holds it, or choose another with --port"
    )


@pytest.mark.no_db
def test_serve_on_a_port_left_in_time_wait_gets_past_the_port_check(db_url, blocked):
    # given: the web port still has the last run's connection in TIME_WAIT
    port = free_port()
    leave_time_wait(port)
    assert in_time_wait(port)
    # when: serve starts there with a media folder it cannot make (so it stops before serving)
    result = run("serve", "--port", str(port), db_url=db_url, env={"STORE_MEDIA_DIR": str(blocked / "media")})
    # then: the port was fine; the one line is about the folder
    assert one_line(result) == f"error: cannot create or write {blocked / 'media'}: Not a directory"


@pytest.mark.no_db
def test_serve_demo_without_the_demo_extra_says_what_to_install(db_url, tmp_path):
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "localstripe.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'localstripe'\", name='localstripe')\n"
    )
    result = run("serve", "--demo", "--port", str(free_port()), db_url=db_url, env={"PYTHONPATH": str(shadow)})
    assert one_line(result) == (
        "error: --demo needs the test payment server (localstripe is not installed): "
        "pip install -e '.[demo]' (make run does this)"
    )


def serve_demo_in_process(monkeypatch, localstripe_port: int, **env: str):  # type: ignore[no-untyped-def]
    """`storefront serve --demo` through typer's CliRunner, with localstripe's port moved off 8420 (which
    a developer's own `make run` may hold) and the variables serve sets restored afterwards."""
    from typer.testing import CliRunner

    import store.cli
    from store.config import get_settings

    monkeypatch.setattr(store.cli, "LOCALSTRIPE_PORT", localstripe_port)
    monkeypatch.setenv("STORE_STRIPE_API_BASE", f"http://127.0.0.1:{localstripe_port}")
    monkeypatch.setenv("STORE_STRIPE_JS_URL", f"http://127.0.0.1:{localstripe_port}/js.stripe.com/v3/")
    monkeypatch.setenv("STORE_BASE_URL", "http://testserver")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(store.cli.app, ["serve", "--demo", "--port", str(free_port())])
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


@pytest.mark.no_db
def test_serve_demo_with_the_payment_port_busy_says_which_and_what_to_do(monkeypatch):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = serve_demo_in_process(monkeypatch, port)
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: port {port} on 127.0.0.1 is in use, and test payments (localstripe) need it: "
        "stop what holds it (another `make run`?) and try again\n"
    )


@pytest.mark.no_db
def test_serve_demo_right_after_a_run_gets_past_the_payment_port_check(monkeypatch, blocked):
    port = free_port()
    leave_time_wait(port)
    assert in_time_wait(port)
    result = serve_demo_in_process(monkeypatch, port, STORE_MEDIA_DIR=str(blocked / "media"))
    assert (result.exit_code, result.stderr) == (
        1,
        f"error: cannot create or write {blocked / 'media'}: Not a directory\n",
    )


@pytest.mark.no_db
@pytest.mark.parametrize(
    ("command", "env", "line"),
    [
        (["migrate"], {"STORE_ENV": "bogus"}, "error: configuration: STORE_ENV: Input should be 'dev', 'test' or 'production'"),
        (
            ["worker"],
            {"STORE_FULFILMENT_LEASE_SECONDS": "soon"},
            "error: configuration: STORE_FULFILMENT_LEASE_SECONDS: Input should be a valid integer, "
            "unable to parse string as an integer",
        ),
        (
            ["migrate"],
            {"STORE_DATABASE_URL": "mysqlish://x"},
            "error: STORE_DATABASE_URL is not a database URL SQLAlchemy can use: "
            "Can't load plugin: sqlalchemy.dialects:mysqlish",
        ),
        (
            ["serve"],
            {"STORE_DATABASE_URL": "not a url"},
            "error: STORE_DATABASE_URL is not a database URL SQLAlchemy can use: "
            "Could not parse SQLAlchemy URL from given URL string",
        ),
    ],
)
def test_bad_settings_are_one_line_naming_the_variable(db_url, command, env, line):
    if command == ["serve"]:
        command = ["serve", "--port", str(free_port())]
    result = run(*command, db_url=env.pop("STORE_DATABASE_URL", db_url), env=env)
    assert one_line(result) == line


@pytest.mark.no_db
@pytest.mark.parametrize("command", [["migrate"], ["demo-data"], ["worker"], ["reconcile"]])
def test_a_var_folder_that_cannot_be_made_is_one_line(tmp_path, command):
    var = tmp_path / "var"
    var.write_text("")  # a file where var/ should be
    result = run(*command, db_url=f"sqlite:///{var / 'store.db'}")
    assert one_line(result) == f"error: cannot create or write {var}: File exists"


@pytest.mark.no_db
def test_commands_on_a_database_without_tables_say_to_migrate(db_url):
    reconcile = run("reconcile", db_url=db_url)
    assert one_line(reconcile) == (
        "error: the database has no tables yet (no such table: shop_order): run `storefront migrate` first"
    )
    staff = run("staff", "add", "new@example.com", "--role", "owner", db_url=db_url,
                env={"STORE_STAFF_PASSWORD": "a-long-enough-password"})
    assert one_line(staff).startswith("error: the database has no tables yet (no such table: ")


@pytest.mark.no_db
def test_a_worker_that_cannot_reach_its_database_or_redis_stops_with_one_line(db_url):
    database = run("worker", db_url="postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert one_line(database).startswith("error: database unavailable: ")
    redis = run("worker", db_url=db_url, env={"STORE_REDIS_URL": "redis://127.0.0.1:1/0"})
    assert one_line(redis) == (
        "error: Redis at STORE_REDIS_URL is unavailable: Error 111 connecting to 127.0.0.1:1. Connection refused."
    )


@pytest.mark.no_db
@pytest.mark.parametrize(
    "command",
    [["reconcile", "--older-than", "-1"], ["serve", "--port", "0"], ["serve", "--port", "70000"], ["worker", "--workers", "0"]],
)
def test_out_of_range_options_are_bad_usage(db_url, command):
    result = run(*command, db_url=db_url)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


ENQUEUE_A_STRIPE_EVENT = """
from store.db import unit_of_work
from store.webhook.service import accept

event = {"id": "evt_worker_log", "type": "payment_intent.succeeded",
         "data": {"object": {"id": "pi_nobody_knows", "amount": 2899, "metadata": {}}}}
with unit_of_work() as session:
    assert accept(session, source="stripe", external_id=event["id"], type=event["type"], payload=event).status == "stored"
"""


@pytest.mark.no_db
@pytest.mark.slow
def test_the_worker_logs_what_its_jobs_did_as_json_lines(db_url, tmp_path):
    """An operator reads a worker's stderr to know a webhook was processed: it said nothing (the worker
    never set up logging, so our INFO lines were dropped)."""
    import json
    import queue
    import threading
    import time

    env = {**os.environ, "STORE_DATABASE_URL": db_url, "STORE_ENV": "dev"}
    assert run("migrate", db_url=db_url).returncode == 0
    # a shop process stores a Stripe event and puts its job on the queue (the SQLite queue beside the db)
    subprocess.run([sys.executable, "-c", ENQUEUE_A_STRIPE_EVENT], env=env, check=True, timeout=60)

    worker = subprocess.Popen(
        [sys.executable, "-m", "store.cli", "worker"], env=env, stderr=subprocess.PIPE, text=True, cwd=tmp_path
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in worker.stderr], daemon=True).start()  # type: ignore[union-attr]
    said = None
    try:
        deadline = time.time() + 60
        while said is None and time.time() < deadline:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                continue
            if '"webhook event processed"' in line:
                said = json.loads(line)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    assert said == {
        "level": "info",
        "logger": "store.webhook",
        "msg": "webhook event processed",
        "source": "stripe",
        "external_id": "evt_worker_log",
        "type": "payment_intent.succeeded",
    }
