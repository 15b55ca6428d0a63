"""What the shop shows beside the news. The catalogue fills these in (issue: catalogue)."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from store.news.models import Article


def featured_products(session: Session) -> list[Any]:
    return []


def products_for_article(session: Session, article: Article) -> list[Any]:
    return []


def sitemap_paths(session: Session) -> list[str]:
    return []
