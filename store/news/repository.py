"""Queries only."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from store.news.models import Article, ArticleLink, ArticleTag, Author
from store.timeutil import utcnow


def published(session: Session, *, limit: int = 20, offset: int = 0) -> Sequence[Article]:
    stmt = (
        select(Article)
        .where(col(Article.published_at).is_not(None), col(Article.published_at) <= utcnow())
        .order_by(col(Article.published_at).desc(), col(Article.id).desc())
        .offset(offset)
        .limit(limit)
    )
    return session.exec(stmt).all()


def by_slug(session: Session, slug: str) -> Article | None:
    return session.exec(select(Article).where(Article.slug == slug)).first()


def all_articles(session: Session) -> Sequence[Article]:
    return session.exec(select(Article).order_by(col(Article.created_at).desc())).all()


def links(session: Session, article_id: int) -> Sequence[ArticleLink]:
    stmt = select(ArticleLink).where(ArticleLink.article_id == article_id).order_by(col(ArticleLink.position))
    return session.exec(stmt).all()


def tags(session: Session, article_id: int) -> list[str]:
    stmt = select(ArticleTag.tag).where(ArticleTag.article_id == article_id).order_by(col(ArticleTag.tag))
    return list(session.exec(stmt).all())


def authors(session: Session) -> Sequence[Author]:
    return session.exec(select(Author).order_by(col(Author.name))).all()


def authors_by_id(session: Session, ids: set[int]) -> dict[int, Author]:
    if not ids:
        return {}
    return {a.id: a for a in session.exec(select(Author).where(col(Author.id).in_(ids))).all() if a.id}


def next_publication(session: Session) -> datetime | None:
    """When the next scheduled article goes live (cached news pages must not outlive that moment)."""
    stmt = select(func.min(Article.published_at)).where(col(Article.published_at) > utcnow())
    return session.exec(stmt).one()
