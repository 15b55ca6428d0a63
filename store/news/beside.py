"""What the shop shows beside the news: staff picks and products sharing a story's tags."""

from __future__ import annotations

from sqlmodel import Session

from catalog import repository, service
from catalog.service import ProductCard
from store.news import repository as news_repository
from store.news.models import Article

BESIDE_LIMIT = 4
FEATURED_LIMIT = 4
SITEMAP_LIMIT = 45_000  # one sitemap file holds at most 50,000 addresses


def featured_products(session: Session) -> list[ProductCard]:
    products = repository.published_page(
        session, collection_id=None, sort="featured", limit=FEATURED_LIMIT, offset=0
    )
    return service.cards(session, products)


def products_for_article(session: Session, article: Article) -> list[ProductCard]:
    """Staff picks first, then products sharing the story's tags. None for a sensitive story."""
    if article.sensitive or article.id is None:
        return []
    picks = list(repository.picks_for_article(session, article.id, BESIDE_LIMIT))
    tags = news_repository.tags(session, article.id)
    picks += repository.tagged_products(
        session, tags, exclude=[p.id for p in picks if p.id is not None], limit=BESIDE_LIMIT - len(picks)
    )
    return service.cards(session, picks, from_article=article.slug)


def sitemap_paths(session: Session) -> list[str]:
    return ["/shop"] + [f"/shop/{slug}" for slug in repository.published_slugs(session, SITEMAP_LIMIT)]
