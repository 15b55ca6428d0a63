"""Query parameters the shop pages, the API and the staff desk read the same way."""

from __future__ import annotations

from urllib.parse import urlencode

from sqlmodel import Session

from catalog import repository
from catalog.models import Collection
from catalog.service import SLUG_RE
from store.errors import NotFound

MAX_PAGE = 10_000
MAX_SLUG = 160


def page_number(raw: str | None) -> int:
    """1 for none; a whole number from 1 to MAX_PAGE; anything else is a page that doesn't exist."""
    if raw is None or raw == "":
        return 1
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise NotFound("No such page.")
    return int(raw)


def collection_or_404(session: Session, slug: str | None) -> Collection | None:
    if not slug:
        return None
    found = repository.collection_by_slug(session, slug) if is_slug(slug) else None
    if found is None:
        raise NotFound("No such collection.")
    return found


def is_slug(value: str) -> bool:
    return len(value) <= MAX_SLUG and SLUG_RE.match(value) is not None


def query_string(**params: object) -> str:
    """`?a=1&b=2` without the parameters at their defaults (None, "", page 1, "featured" order)."""
    kept = [(k, str(v)) for k, v in params.items() if v not in (None, "", 1, "featured")]
    return "?" + urlencode(kept) if kept else ""
