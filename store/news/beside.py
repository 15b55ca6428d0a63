"""What the shop shows beside the news: staff picks and products sharing a story's tags."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlmodel import Session

from catalog import repository, service
from catalog.models import Product
from catalog.service import Choice, ProductCard
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


def products_for_article(session: Session, article: Article) -> list[Product]:
    """The products chosen for a story: staff picks first, then products sharing the story's tags.
    None for a sensitive story."""
    if article.sensitive or article.id is None:
        return []
    picks = list(repository.picks_for_article(session, article.id, BESIDE_LIMIT))
    tags = news_repository.tags(session, article.id)
    picks += repository.tagged_products(
        session, tags, exclude=[p.id for p in picks if p.id is not None], limit=BESIDE_LIMIT - len(picks)
    )
    return picks


@dataclass(frozen=True)
class BuyBeside:
    """A product chosen for a story with its picker, to buy without leaving the story."""

    card: ProductCard
    choice: Choice  # the sizes and colours on offer, and the one shown chosen

    @property
    def slug(self) -> str:
        return self.card.slug


@dataclass(frozen=True)
class BuyState:
    """What "Add to cart" beside a story left for that product's form: the shopper's values (kept),
    the errors by field ("size", "colour", "quantity"; "add" for the item), or the confirmation."""

    slug: str  # the product's
    values: Mapping[str, str] = field(default_factory=dict)
    errors: Mapping[str, str] = field(default_factory=dict)
    added: str | None = None


def buy_beside(session: Session, article: Article, *, picked: BuyState | None = None) -> list[BuyBeside]:
    """The story's products with their pickers; the one `picked` names set to the shopper's choice."""
    products = products_for_article(session, article)
    ids = [p.id for p in products if p.id is not None]
    variants = repository.variants_for(session, ids)
    images = repository.images_for(session, ids)
    cards = service.cards(session, products, from_article=article.slug)
    boxes = []
    for product, card in zip(products, cards, strict=True):
        values = picked.values if picked is not None and picked.slug == product.slug else {}
        choice = service.choose(
            product,
            variants.get(product.id, []) if product.id is not None else [],
            images.get(product.id, []) if product.id is not None else [],
            size=values.get("size"),
            colour=values.get("colour"),
        )
        boxes.append(BuyBeside(card=card, choice=choice))
    return boxes


def sitemap_paths(session: Session) -> list[str]:
    return ["/shop"] + [f"/shop/{slug}" for slug in repository.published_slugs(session, SITEMAP_LIMIT)]
