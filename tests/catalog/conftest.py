"""Catalogue tests start with an empty page cache (products come from tests/factories.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import event

from store import cache


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    cache.backend().clear()
    cache.bump("catalogue")
    yield
    cache.backend().clear()


@pytest.fixture
def count_queries(engine):  # type: ignore[no-untyped-def]
    """The SQL statements run while the test runs (none for a page served from the page cache)."""
    statements: list[str] = []

    def listener(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if not statement.startswith(("BEGIN", "COMMIT", "ROLLBACK", "PRAGMA", "SAVEPOINT", "RELEASE")):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", listener)
    yield statements
    event.remove(engine, "before_cursor_execute", listener)
