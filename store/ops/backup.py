"""`storefront backup DEST` and `storefront restore SRC`: the database and the media folder.

A backup is a folder:

    manifest.json        what it holds: database kind, migration revision, rows per table, media files
    database.sqlite3     SQLite: a copy made with SQLite's online backup API (a consistent snapshot,
                         taken as a reader while the shop keeps serving and writing)
    database.pgdump      PostgreSQL: `pg_dump --format=custom` of an exported snapshot; the row counts in
                         the manifest are read in that same snapshot, so restore can prove it got them all
    media/               the uploaded images (their names are content hashes: copying while serving is safe)

Restore goes only into an empty database (no tables at all), then checks the rows per table against the
manifest. The job queue is not backed up: every job that matters has its row in the database (an outbox)
and the worker's sweeps pick those up again.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, make_url

from store.config import Settings
from store.errors import DomainError
from store.timeutil import utcnow

FORMAT = 1
MANIFEST = "manifest.json"
SQLITE_FILE = "database.sqlite3"
PG_FILE = "database.pgdump"
MEDIA = "media"
PG_TIMEOUT_SECONDS = 6 * 60 * 60  # a generous bound: a dump or restore that hangs must still end
PG_CONNECT_TIMEOUT = "10"


class BackupError(DomainError):
    """An expected failure: the message is the one line the operator sees."""


@dataclass(frozen=True, slots=True)
class Summary:
    tables: int
    rows: int
    media_files: int
    revision: str

    def describe(self) -> str:
        files = f"{self.media_files} media files"
        return f"{self.tables} tables, {self.rows} rows, {files}, migration {self.revision}"


# --- helpers ----------------------------------------------------------------------------------------


def _sqlite_path(settings: Settings) -> Path:
    path = make_url(settings.database_url).database
    if not path or path == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up or restored")
    return Path(path)


def _kind(settings: Settings) -> str:
    backend = make_url(settings.database_url).get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise BackupError(f"backups support SQLite and PostgreSQL, not {backend}")
    return backend


def _libpq(settings: Settings) -> tuple[str, dict[str, str]]:
    """A libpq connection string without the password, and an environment that carries it."""
    url = make_url(settings.database_url)
    conninfo = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    env = {**os.environ, "PGCONNECT_TIMEOUT": PG_CONNECT_TIMEOUT}
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return conninfo, env


def _run(args: list[str], env: dict[str, str], what: str) -> None:
    try:
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=PG_TIMEOUT_SECONDS)
    except FileNotFoundError:
        raise BackupError(f"{args[0]} is not installed (Debian: apt-get install postgresql-client)") from None
    except subprocess.TimeoutExpired:
        raise BackupError(f"{what} did not finish within {PG_TIMEOUT_SECONDS // 3600} hours") from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        raise BackupError(f"{what} failed: {lines[-1] if lines else f'exit code {done.returncode}'}")


def _row_counts(conn: Connection) -> dict[str, int]:
    names = sorted(inspect(conn).get_table_names())
    # Table names come from the database's own catalogue, not from input.
    return {name: int(conn.execute(text(f'SELECT count(*) FROM "{name}"')).scalar_one()) for name in names}  # noqa: S608


def _revision(conn: Connection) -> str:
    if "alembic_version" not in inspect(conn).get_table_names():
        return "none"
    return (
        ",".join(sorted(r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))))
        or "none"
    )


def _copy_media(source: Path, target: Path) -> int:
    target.mkdir(parents=True, exist_ok=True)
    if not source.is_dir():
        return 0
    shutil.copytree(source, target, dirs_exist_ok=True)
    return sum(1 for p in source.rglob("*") if p.is_file())


# --- backup -----------------------------------------------------------------------------------------


def backup(settings: Settings, dest: Path) -> Summary:
    """Write a consistent copy of the database and the media folder into dest (a new or empty folder)."""
    kind = _kind(settings)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise BackupError(f"{dest} already exists and is not an empty folder; choose a new one")
    dest.mkdir(parents=True, exist_ok=True)
    if kind == "sqlite":
        counts, revision = _backup_sqlite(settings, dest / SQLITE_FILE)
    else:
        counts, revision = _backup_postgres(settings, dest / PG_FILE)
    media_files = _copy_media(Path(settings.media_dir), dest / MEDIA)
    manifest = {
        "format": FORMAT,
        "created_at": utcnow().isoformat(),
        "database": kind,
        "revision": revision,
        "rows": counts,
        "media_files": media_files,
    }
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return Summary(len(counts), sum(counts.values()), media_files, revision)


def _backup_sqlite(settings: Settings, target: Path) -> tuple[dict[str, int], str]:
    source = _sqlite_path(settings)
    if not source.exists():
        raise BackupError(f"there is no database at {source}")
    with closing(sqlite3.connect(source, timeout=30)) as src, closing(sqlite3.connect(target)) as dst:
        # pages=-1: one step, under one read transaction, so the copy is a single moment in time; in WAL
        # mode the shop's writers carry on meanwhile.
        src.backup(dst, pages=-1)
    with closing(sqlite3.connect(target)) as copy:
        status = copy.execute("PRAGMA integrity_check").fetchone()[0]
        if status != "ok":
            raise BackupError(f"the copy failed SQLite's integrity check: {status}")
    with _connection(f"sqlite:///{target}") as conn:
        return _row_counts(conn), _revision(conn)


def _backup_postgres(settings: Settings, target: Path) -> tuple[dict[str, int], str]:
    conninfo, env = _libpq(settings)
    with (
        _connection(settings.database_url) as conn,
        conn.execution_options(isolation_level="REPEATABLE READ").begin(),
    ):
        # One snapshot for the counts and the dump: pg_dump --snapshot reads exactly what we counted.
        conn.exec_driver_sql("SET TRANSACTION READ ONLY")
        snapshot: str = conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
        counts, revision = _row_counts(conn), _revision(conn)
        _run(
            [
                "pg_dump",
                "--format=custom",
                "--no-owner",
                "--no-privileges",
                f"--snapshot={snapshot}",
                f"--file={target}",
                f"--dbname={conninfo}",
            ],
            env,
            "pg_dump",
        )
    return counts, revision


# --- restore ----------------------------------------------------------------------------------------


def _manifest(src: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((src / MANIFEST).read_text())
    except FileNotFoundError:
        raise BackupError(f"{src} is not a backup (no {MANIFEST})") from None
    except ValueError:
        raise BackupError(f"{src / MANIFEST} is not readable JSON") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(
            f"{src} was written in backup format {manifest.get('format')}; this release reads {FORMAT}"
        )
    return dict(manifest)


@contextmanager
def _connection(url: str) -> Iterator[Connection]:
    from sqlalchemy import create_engine

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def _refuse_unless_empty(settings: Settings) -> None:
    where = make_url(settings.database_url).render_as_string(hide_password=True)
    with _connection(settings.database_url) as conn:
        tables = inspect(conn).get_table_names()
    if tables:
        raise BackupError(
            f"the database at {where} already has {len(tables)} tables; restore goes only into an empty "
            "database (create a new one and point STORE_DATABASE_URL at it)"
        )


def restore(settings: Settings, src: Path) -> Summary:
    """Restore a backup into the empty database and the media folder the settings name (shop stopped)."""
    manifest = _manifest(src)
    kind = _kind(settings)
    if manifest["database"] != kind:
        raise BackupError(
            f"this backup is of a {manifest['database']} database; STORE_DATABASE_URL is {kind}"
        )
    if kind == "sqlite":
        target = _sqlite_path(settings)
        target.parent.mkdir(parents=True, exist_ok=True)
    _refuse_unless_empty(settings)
    if kind == "sqlite":
        with closing(sqlite3.connect(src / SQLITE_FILE)) as source, closing(sqlite3.connect(target)) as dst:
            source.backup(dst, pages=-1)
            dst.execute("PRAGMA journal_mode=WAL")
    else:
        conninfo, env = _libpq(settings)
        _run(
            [
                "pg_restore",
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                f"--dbname={conninfo}",
                str(src / PG_FILE),
            ],
            env,
            "pg_restore",
        )
    with _connection(settings.database_url) as conn:
        counts, revision = _row_counts(conn), _revision(conn)
        if kind == "sqlite":
            status: str = conn.exec_driver_sql("PRAGMA integrity_check").scalar_one()
            if status != "ok":
                raise BackupError(f"the restored database failed SQLite's integrity check: {status}")
    if counts != manifest["rows"]:
        differ = sorted(
            name
            for name in set(counts) | set(manifest["rows"])
            if counts.get(name) != manifest["rows"].get(name)
        )
        raise BackupError(f"the restored rows differ from the backup's in: {', '.join(differ)}")
    media_files = _copy_media(src / MEDIA, Path(settings.media_dir)) if (src / MEDIA).is_dir() else 0
    return Summary(len(counts), sum(counts.values()), media_files, revision)
