from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from store.cache import invalidate_on_change
from store.timeutil import utcnow


class Author(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120)
    slug: str = Field(max_length=120, unique=True)
    bio: str = ""


class Article(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=160, unique=True, index=True)
    title: str = Field(max_length=300)
    standfirst: str = ""
    body_md: str = ""
    author_id: int | None = Field(default=None, foreign_key="author.id")
    published_at: datetime | None = Field(default=None, index=True)
    hero_image: str | None = Field(default=None, max_length=64)
    hero_alt: str = ""
    hero_credit: str = ""
    # Editorial safety: a sensitive story shows no products, only the donation appeal.
    sensitive: bool = False
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    @property
    def is_published(self) -> bool:
        return self.published_at is not None and self.published_at <= utcnow()


class ArticleLink(SQLModel, table=True):
    __tablename__ = "article_link"

    id: int | None = Field(default=None, primary_key=True)
    article_id: int = Field(foreign_key="article.id", index=True, ondelete="CASCADE")
    position: int = 0
    title: str = Field(max_length=300)
    url: str = Field(max_length=1000)


class ArticleTag(SQLModel, table=True):
    __tablename__ = "article_tag"

    article_id: int = Field(foreign_key="article.id", primary_key=True, ondelete="CASCADE")
    tag: str = Field(max_length=60, primary_key=True, index=True)


# Cached news pages (/, /news/{slug}, /feed.xml) are rebuilt after any committed change to these.
CACHE_NAMESPACE = "news"
invalidate_on_change(CACHE_NAMESPACE, (Author, Article, ArticleLink, ArticleTag))
