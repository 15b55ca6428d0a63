"""One clock for the app: timezone-aware UTC (SQLModel stores aware datetimes)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo


def utcnow() -> datetime:
    return datetime.now(UTC)


# Staff reports count UK days: "today" starts at midnight in London (GMT in winter, BST in summer).
# Boundaries are computed here and compared as UTC instants, so the SQL is the same on every database.
LONDON = ZoneInfo("Europe/London")


def london_date(moment: datetime) -> date:
    return moment.astimezone(LONDON).date()


def london_midnight(day: date) -> datetime:
    """The instant (in UTC) at which `day` begins in London."""
    return datetime(day.year, day.month, day.day, tzinfo=LONDON).astimezone(UTC)


def london_time(moment: datetime) -> datetime:
    return moment.astimezone(LONDON)
