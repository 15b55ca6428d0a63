"""Catalogue tests start with an empty page cache (products come from tests/factories.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from store import cache


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    cache.backend().clear()
    cache.bump("catalogue")
    yield
    cache.backend().clear()
