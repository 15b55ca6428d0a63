"""The catalogue: collections, products, variants, photos, tags, products chosen for articles.

Prices are integer pence INCLUDING VAT. A variant's price is its own override or the product's price.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from store.cache import invalidate_on_change
from store.money import Money
from store.timeutil import utcnow

STANDARD_VAT_BP = 2000  # UK standard rate, 20.00 %, in basis points


class Collection(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=60, unique=True)  # "t-shirts", "cushions"
    title: str = Field(max_length=120)
    position: int = 0


class Product(SQLModel, table=True):
    # Listing indexes: every shop page is a range scan in display order, never a sort of the table.
    __table_args__ = (
        Index("ix_product_list_position", "is_published", "position", "id"),
        Index("ix_product_list_price", "is_published", "price", "id"),
        Index("ix_product_list_coll_position", "collection_id", "is_published", "position", "id"),
        Index("ix_product_list_coll_price", "collection_id", "is_published", "price", "id"),
        Index("ix_product_list_coll_newest", "collection_id", "is_published", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=160, unique=True, index=True)
    title: str = Field(max_length=200)
    description: str = ""
    collection_id: int = Field(foreign_key="collection.id", index=True)
    price: int = Field(ge=0)  # pence incl. VAT
    currency: str = Field(default="GBP", max_length=3)
    vat_rate_bp: int = STANDARD_VAT_BP
    is_published: bool = Field(default=False, index=True)
    position: int = Field(default=0, index=True)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    @property
    def price_money(self) -> Money:
        return Money(self.price, self.currency)


class Variant(SQLModel, table=True):
    __table_args__ = (Index("ix_variant_order", "product_id", "position", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    product_id: int = Field(foreign_key="product.id", index=True, ondelete="CASCADE")
    sku: str = Field(max_length=64, unique=True, index=True)
    # {"size": "M", "colour": "Black"}; cushions use {"size": "45 x 45 cm", "colour": "Natural"}
    # ("colour" holds the cover, so the API shape is the same for every collection).
    options: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    price_override: int | None = Field(default=None, ge=0)
    provider_cost: int = Field(default=0, ge=0)  # what the print provider charges us, pence
    provider_variant_id: int | None = None  # Printful catalogue variant id
    print_file_url: str = ""
    is_available: bool = True
    position: int = 0

    def price_for(self, product: Product) -> Money:
        amount = self.price_override if self.price_override is not None else product.price
        return Money(amount, product.currency)


class ProductImage(SQLModel, table=True):
    __tablename__ = "product_image"
    __table_args__ = (Index("ix_product_image_order", "product_id", "position", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    product_id: int = Field(foreign_key="product.id", index=True, ondelete="CASCADE")
    image_key: str = Field(max_length=64)
    alt: str = Field(max_length=300)
    colour: str | None = Field(default=None, max_length=60)  # shown when that colour is picked
    position: int = 0


class ProductTag(SQLModel, table=True):
    __tablename__ = "product_tag"

    product_id: int = Field(foreign_key="product.id", primary_key=True, ondelete="CASCADE")
    tag: str = Field(max_length=60, primary_key=True, index=True)


class ArticleProduct(SQLModel, table=True):
    """Products staff chose to show beside a story (beside those matched by shared tags)."""

    __tablename__ = "article_product"
    __table_args__ = (UniqueConstraint("article_id", "product_id"),)

    id: int | None = Field(default=None, primary_key=True)
    article_id: int = Field(foreign_key="article.id", index=True, ondelete="CASCADE")
    product_id: int = Field(foreign_key="product.id", index=True, ondelete="CASCADE")
    position: int = 0


def variant_options_label(options: dict[str, Any]) -> str:
    return " / ".join(str(v) for v in options.values())


# --- cache invalidation: any committed change to the catalogue bumps its cache version -------------

CACHE_NAMESPACE = "catalogue"
invalidate_on_change(
    CACHE_NAMESPACE, (Collection, Product, Variant, ProductImage, ProductTag, ArticleProduct)
)
