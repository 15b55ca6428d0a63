"""A scratch SQLite file of the gate tests' own (they run the same whichever database the suite is on)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from store import db as store_db


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Engine]:
    """An engine of store.db (so with its write gate) on a new file with one table, `item`."""
    engine = store_db._make_engine(f"sqlite:///{tmp_path / 'scratch.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT NOT NULL)"))
    yield engine
    engine.dispose()
