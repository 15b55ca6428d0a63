"""`storefront backup` while orders pour in, `storefront restore` into a new database, and the shop serving
from the restored copy. On SQLite and on PostgreSQL (whichever the suite runs on)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from tests.conftest import POSTGRES_URL
from tests.factories import make_paid_order
from tests.store.ops.test_serve_process import start_serve, stop

# Real processes, pg_dump/pg_restore and CREATE/DROP DATABASE: minutes on a busy machine.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]


def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "store.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            names = sorted(inspect(conn).get_table_names())
            return {n: int(conn.execute(text(f'SELECT count(*) FROM "{n}"')).scalar_one()) for n in names}
    finally:
        engine.dispose()


@pytest.fixture
def new_database(tmp_path: Path) -> Iterator[str]:
    """An empty database of the suite's kind to restore into."""
    if not POSTGRES_URL:
        yield f"sqlite:///{tmp_path / 'restored.db'}"
        return
    url = make_url(POSTGRES_URL)
    name = f"{url.database}_restore"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_backup_during_a_burst_of_orders_restores_and_serves(
    engine, tmp_path: Path, new_database: str
) -> None:  # type: ignore[no-untyped-def]
    media = tmp_path / "media"  # its own: the suite's media folder holds other tests' images
    media.mkdir()
    (media / "ab12cd-photo.webp").write_bytes(b"RIFF-not-really-a-webp")
    with Session(engine, expire_on_commit=False) as db:
        first = make_paid_order(db, paid=False)

    made: list[int] = []
    stop_burst = threading.Event()

    def burst() -> None:
        for _ in range(2000):  # until the backup is done; bounded all the same
            if stop_burst.is_set():
                return
            with Session(engine, expire_on_commit=False) as db:
                made.append(make_paid_order(db, paid=False).id or 0)

    writers = [threading.Thread(target=burst) for _ in range(2)]
    for w in writers:
        w.start()
    time.sleep(0.2)  # let the burst get going
    dest = tmp_path / "backup"
    done = cli("backup", str(dest), STORE_MEDIA_DIR=str(media))
    stop_burst.set()
    for w in writers:
        w.join(timeout=60)

    assert done.returncode == 0, done.stderr
    manifest = json.loads((dest / "manifest.json").read_text())
    rows = manifest["rows"]
    # One moment in time: every order in the copy has its line and its payment (written together).
    assert rows["shop_order"] == rows["order_line"] == rows["payment"]
    # Taken while orders were being written: some came before the snapshot, some after it.
    assert 1 < rows["shop_order"] < 1 + len(made), (rows["shop_order"], len(made))
    assert manifest["media_files"] == 1 and manifest["revision"] == _head()
    assert done.stdout.strip() == (
        f"backed up {len(rows)} tables, {sum(rows.values())} rows, 1 media files, migration {_head()} to {dest}"
    )

    restored_media = tmp_path / "restored-media"
    back = cli("restore", str(dest), STORE_DATABASE_URL=new_database, STORE_MEDIA_DIR=str(restored_media))
    assert back.returncode == 0, back.stderr
    assert back.stdout.strip() == (
        f"restored {len(rows)} tables, {sum(rows.values())} rows, 1 media files, migration {_head()} from {dest}"
    )
    assert counts(new_database) == rows
    if new_database.startswith("sqlite"):
        check = create_engine(new_database)
        with check.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"
        check.dispose()
    assert (restored_media / "ab12cd-photo.webp").read_bytes() == b"RIFF-not-really-a-webp"

    again = cli("restore", str(dest), STORE_DATABASE_URL=new_database, STORE_MEDIA_DIR=str(restored_media))
    assert again.returncode == 1
    assert again.stderr.startswith("error: the database at ") and again.stderr.count("\n") == 1
    assert "already has" in again.stderr and "restore goes only into an empty database" in again.stderr

    # The shop serves from the restored database: the first order's page and the restored photo.
    env_dir = tmp_path / "serve"
    env_dir.mkdir()
    proc, base = start_serve(env_dir, database_url=new_database, media_dir=str(restored_media))
    try:
        order = httpx.get(f"{base}/api/orders/{first.token}", timeout=10)
        photo = httpx.get(f"{base}/media/ab12cd-photo.webp", timeout=10)
    finally:
        stop(proc)
    assert order.status_code == 200
    assert (order.json()["number"], order.json()["status"]) == (first.number, "pending_payment")
    assert (photo.status_code, photo.content) == (200, b"RIFF-not-really-a-webp")


def test_backup_refuses_a_used_folder_and_restore_a_non_backup(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    used = tmp_path / "used"
    used.mkdir()
    (used / "something").write_text("x")
    done = cli("backup", str(used))
    assert (done.returncode, done.stderr) == (
        1,
        f"error: {used} already exists and is not an empty folder; choose a new one\n",
    )
    done = cli("restore", str(tmp_path))
    assert (done.returncode, done.stderr) == (1, f"error: {tmp_path} is not a backup (no manifest.json)\n")


def _head() -> str:
    from alembic.script import ScriptDirectory

    from store.migrate import alembic_config

    return ",".join(sorted(ScriptDirectory.from_config(alembic_config()).get_heads()))
