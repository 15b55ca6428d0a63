"""The `storefront` command as an operator runs it: real processes, exit codes, one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


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
