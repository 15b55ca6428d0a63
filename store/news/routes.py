"""Public news pages, feeds and the site's plumbing routes."""

from __future__ import annotations

from datetime import UTC
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from feedgen.feed import FeedGenerator
from sqlalchemy import text
from sqlmodel import Session

from catalog.models import CACHE_NAMESPACE as CATALOGUE_NAMESPACE
from store.auth.models import StaffUser
from store.config import get_settings
from store.deps import Db, current_staff
from store.errors import NotFound
from store.markdown import render_markdown
from store.media import image_srcset, image_url
from store.news import beside, repository
from store.news.beside import BuyState
from store.news.models import CACHE_NAMESPACE as NEWS_NAMESPACE
from store.news.models import Article
from store.page_cache import DEFAULT_TTL, only_params, render_page, respond
from store.timeutil import utcnow
from store.web import is_htmx, render, templates

router = APIRouter()

PAGE_SIZE = 12
# News pages show products too: a change to either rebuilds them.
NAMESPACES = (NEWS_NAMESPACE, CATALOGUE_NAMESPACE)


def _absolute(path: str) -> str:
    return get_settings().base_url.rstrip("/") + path


@router.get("/", name="news.home")
def home(request: Request, db: Db, page: int = 1) -> Response:
    number = max(1, min(page, 10_000))
    articles = list(repository.published(db, limit=PAGE_SIZE + 1, offset=(number - 1) * PAGE_SIZE))
    has_next = len(articles) > PAGE_SIZE
    articles = articles[:PAGE_SIZE]
    authors = repository.authors_by_id(db, {a.author_id for a in articles if a.author_id})
    return render_page(
        request,
        "news/home.html",
        {
            "articles": articles,
            "authors": authors,
            "page": number,
            "has_next": has_next,
            "image_url": image_url,
            "image_srcset": image_srcset,
            "features": beside.featured_products(db),
        },
        namespaces=NAMESPACES,
        cacheable=number == page and only_params(request, ("page",)),
        ttl=_ttl(db),
    )


@router.get("/news/{slug}", name="news.article")
def article(
    request: Request, slug: str, db: Db, staff: Annotated[StaffUser | None, Depends(current_staff)]
) -> Response:
    item = repository.by_slug(db, slug)
    if item is None or (not item.is_published and staff is None):
        raise NotFound("No such article.")
    return render_article(request, db, item)


def render_article(
    request: Request, db: Session, item: Article, *, buy: BuyState | None = None, status_code: int = 200
) -> Response:
    """The article page. `buy`: a refused "Add to cart" beside the story, shown by that product's
    form (values kept, errors by their fields; never cached)."""
    assert item.id is not None
    authors = repository.authors_by_id(db, {item.author_id} if item.author_id else set())
    author = authors.get(item.author_id) if item.author_id else None
    return render_page(
        request,
        "news/article.html",
        {
            "article": item,
            "author": author,
            "body_html": render_markdown(item.body_md),
            "links": repository.links(db, item.id),
            "tags": repository.tags(db, item.id),
            "products": beside.buy_beside(db, item, picked=buy),
            "buy": buy,
            "hero_src": image_url(item.hero_image, 1200) if item.hero_image else None,
            "hero_srcset": image_srcset(item.hero_image) if item.hero_image else None,
            "canonical": _absolute(f"/news/{item.slug}"),
        },
        namespaces=NAMESPACES,
        cacheable=buy is None and item.is_published and only_params(request, ()),
        ttl=_ttl(db),
        status_code=status_code,
    )


def render_buy_beside(
    request: Request, db: Session, article_slug: str, buy: BuyState, *, status_code: int = 200
) -> Response | None:
    """After "Add to cart" beside a story: for htmx, that product's box again (the confirmation or
    the errors, and the header's count out of band); without JavaScript, the whole article with the
    errors by that product's form. None if the story (published) doesn't show that product."""
    item = repository.by_slug(db, article_slug)
    if item is None or not item.is_published:
        return None
    boxes = beside.buy_beside(db, item, picked=buy)
    if not any(box.slug == buy.slug for box in boxes):
        return None
    if not is_htmx(request):
        return render_article(request, db, item, buy=buy, status_code=status_code)
    return render(
        request,
        "news/_buy_fragment.html",
        {"article": item, "products": [box for box in boxes if box.slug == buy.slug], "buy": buy},
        status_code=status_code,
    )


@router.get("/feed.xml", name="news.feed")
def feed(request: Request, db: Db) -> Response:
    settings = get_settings()
    fg = FeedGenerator()
    fg.title("Red Revolution Media")
    fg.link(href=settings.base_url.rstrip("/") + "/", rel="alternate")
    fg.link(href=_absolute("/feed.xml"), rel="self")
    fg.description("Independent, reader-funded news.")
    fg.language("en-GB")
    items = list(repository.published(db, limit=30))
    authors = repository.authors_by_id(db, {a.author_id for a in items if a.author_id})
    for item in reversed(items):  # feedgen prepends entries; keep newest first in the output
        entry = fg.add_entry()
        url = _absolute(f"/news/{item.slug}")
        entry.id(url)
        entry.guid(url, permalink=True)
        entry.title(item.title)
        entry.link(href=url)
        entry.description(item.standfirst or item.title)
        if item.published_at:
            entry.pubDate(item.published_at.replace(tzinfo=UTC))
        if item.author_id and item.author_id in authors:
            entry.author({"name": authors[item.author_id].name, "email": "news@redrevolution.example"})
    return respond(
        request,
        fg.rss_str(pretty=True).decode(),
        namespaces=(NEWS_NAMESPACE,),
        media_type="application/rss+xml; charset=utf-8",
        cache_control="public, max-age=60",
        cacheable=only_params(request, ()),
        ttl=_ttl(db),
    )


def _ttl(db: Session) -> int:
    """Cached news pages live until the next scheduled article goes live (at most DEFAULT_TTL)."""
    upcoming = repository.next_publication(db)
    if upcoming is None:
        return DEFAULT_TTL
    return max(1, min(DEFAULT_TTL, int((upcoming - utcnow()).total_seconds()) + 1))


@router.get("/sitemap.xml", name="news.sitemap")
def sitemap(request: Request, db: Db) -> Response:
    urls: list[tuple[str, str | None]] = [(_absolute("/"), None)]
    for item in repository.published(db, limit=5000):
        urls.append((_absolute(f"/news/{item.slug}"), item.updated_at.date().isoformat()))
    urls.extend((_absolute(path), None) for path in beside.sitemap_paths(db))
    body = templates.get_template("sitemap.xml").render(urls=urls)
    return Response(body, media_type="application/xml; charset=utf-8")


@router.get("/robots.txt", name="site.robots")
def robots() -> PlainTextResponse:
    body = "User-agent: *\nDisallow: /staff/\nDisallow: /cart\nDisallow: /checkout\nDisallow: /orders/\n"
    return PlainTextResponse(body + f"Sitemap: {_absolute('/sitemap.xml')}\n")


@router.get("/healthz", name="site.health")
def healthz(db: Db) -> JSONResponse:
    try:
        db.exec(text("SELECT 1"))  # type: ignore[call-overload]
    except Exception:
        return JSONResponse({"status": "unavailable"}, status_code=503)
    return JSONResponse({"status": "ok"})
