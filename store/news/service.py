"""Rules for articles: validation, slugs, publishing. Never commits."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from sqlmodel import Session, col, delete

from store.errors import DomainError, NotFound
from store.news import repository
from store.news.models import Article, ArticleLink, ArticleTag
from store.text import slugify
from store.timeutil import utcnow

SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


def parse_tags(text: str) -> list[str]:
    return sorted({slugify(t) for t in text.split(",") if slugify(t)})


def parse_links(text: str) -> list[tuple[str, str]]:
    """One link a line: `Title | https://…`."""
    result: list[tuple[str, str]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        title, sep, url = line.rpartition("|")
        url = url.strip()
        if not sep or not title.strip() or urlsplit(url).scheme not in ("http", "https"):
            raise DomainError(
                f"Write each report link as 'Title | https://address' (problem: {line.strip()[:60]})",
                field="links",
            )
        result.append((title.strip(), url))
    return result


@dataclass
class ArticleForm:
    title: str = ""
    slug: str = ""
    standfirst: str = ""
    body_md: str = ""
    author_id: int | None = None
    hero_alt: str = ""
    hero_credit: str = ""
    sensitive: bool = False
    tags: str = ""
    links: str = ""
    errors: dict[str, str] = field(default_factory=dict)


def validate(session: Session, form: ArticleForm, *, existing: Article | None) -> None:
    form.title = form.title.strip()
    form.slug = (form.slug.strip() or slugify(form.title)).lower()
    if not form.title:
        form.errors["title"] = "Enter a headline."
    elif len(form.title) > 300:
        form.errors["title"] = "Keep the headline under 300 characters."
    if not SLUG_RE.match(form.slug or ""):
        form.errors["slug"] = "Use lower-case letters, numbers and hyphens only."
    else:
        other = repository.by_slug(session, form.slug)
        if other is not None and (existing is None or other.id != existing.id):
            form.errors["slug"] = "Another article already uses this address."
    if not form.body_md.strip():
        form.errors["body_md"] = "Write the article's text."
    try:
        parse_links(form.links)
    except DomainError as exc:
        form.errors["links"] = exc.message


def save(session: Session, form: ArticleForm, *, article: Article | None, hero_image: str | None) -> Article:
    validate(session, form, existing=article)
    if form.errors:
        raise DomainError("Please correct the errors below.")
    if article is None:
        article = Article(title=form.title, slug=form.slug)
    article.title = form.title
    article.slug = form.slug
    article.standfirst = form.standfirst.strip()
    article.body_md = form.body_md
    article.author_id = form.author_id
    article.hero_alt = form.hero_alt.strip()
    article.hero_credit = form.hero_credit.strip()
    article.sensitive = form.sensitive
    article.updated_at = utcnow()
    if hero_image:
        article.hero_image = hero_image
    session.add(article)
    session.flush()
    assert article.id is not None
    set_tags(session, article_id=article.id, tags=parse_tags(form.tags))
    set_links(session, article_id=article.id, links=parse_links(form.links))
    return article


def set_tags(session: Session, *, article_id: int, tags: list[str]) -> None:
    session.execute(delete(ArticleTag).where(col(ArticleTag.article_id) == article_id))
    for tag in tags:
        session.add(ArticleTag(article_id=article_id, tag=tag))


def set_links(session: Session, *, article_id: int, links: list[tuple[str, str]]) -> None:
    session.execute(delete(ArticleLink).where(col(ArticleLink.article_id) == article_id))
    for position, (title, url) in enumerate(links):
        session.add(ArticleLink(article_id=article_id, position=position, title=title, url=url))


def set_published(session: Session, *, article_id: int, published: bool) -> Article:
    article = session.get(Article, article_id)
    if article is None:
        raise NotFound("No such article.")
    if published and article.hero_image and not article.hero_alt:
        raise DomainError("Add alt text for the photo before publishing.", field="hero_alt")
    article.published_at = (article.published_at or utcnow()) if published else None
    article.updated_at = utcnow()
    session.add(article)
    return article


def form_from_article(session: Session, article: Article) -> ArticleForm:
    assert article.id is not None
    return ArticleForm(
        title=article.title,
        slug=article.slug,
        standfirst=article.standfirst,
        body_md=article.body_md,
        author_id=article.author_id,
        hero_alt=article.hero_alt,
        hero_credit=article.hero_credit,
        sensitive=article.sensitive,
        tags=", ".join(repository.tags(session, article.id)),
        links="\n".join(f"{link.title} | {link.url}" for link in repository.links(session, article.id)),
    )
