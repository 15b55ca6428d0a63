"""One clock for the app: timezone-aware UTC (SQLModel stores aware datetimes)."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
