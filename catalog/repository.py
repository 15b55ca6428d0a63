"""Catalogue queries only: no rules, no commit. Every list query is a range scan on an index."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, func, or_, true
from sqlmodel import Session, col, select

from catalog.models import ArticleProduct, Collection, Product, ProductImage, ProductTag, Variant

SORTS: dict[str, tuple[Any, ...]] = {
    "featured": (col(Product.position).asc(), col(Product.id).asc()),
    "price-low": (col(Product.price).asc(), col(Product.id).asc()),
    "price-high": (col(Product.price).desc(), col(Product.id).desc()),
    "newest": (col(Product.id).desc(),),
}


def collections(session: Session) -> Sequence[Collection]:
    return session.exec(select(Collection).order_by(col(Collection.position), col(Collection.id))).all()


def collection_by_slug(session: Session, slug: str) -> Collection | None:
    return session.exec(select(Collection).where(Collection.slug == slug)).first()


def published_page(
    session: Session, *, collection_id: int | None, sort: str, limit: int, offset: int
) -> Sequence[Product]:
    stmt = select(Product).where(col(Product.is_published).is_(True))
    if collection_id is not None:
        stmt = stmt.where(Product.collection_id == collection_id)
    stmt = stmt.order_by(*SORTS.get(sort, SORTS["featured"])).offset(offset).limit(limit)
    return session.exec(stmt).all()


def product_by_slug(session: Session, slug: str) -> Product | None:
    return session.exec(select(Product).where(Product.slug == slug)).first()


def variants_for(session: Session, product_ids: Sequence[int]) -> dict[int, list[Variant]]:
    found: dict[int, list[Variant]] = defaultdict(list)
    if not product_ids:
        return found
    stmt = (
        select(Variant)
        .where(col(Variant.product_id).in_(list(product_ids)))
        .order_by(col(Variant.product_id), col(Variant.position), col(Variant.id))
    )
    for variant in session.exec(stmt).all():
        found[variant.product_id].append(variant)
    return found


def images_for(session: Session, product_ids: Sequence[int]) -> dict[int, list[ProductImage]]:
    found: dict[int, list[ProductImage]] = defaultdict(list)
    if not product_ids:
        return found
    stmt = (
        select(ProductImage)
        .where(col(ProductImage.product_id).in_(list(product_ids)))
        .order_by(col(ProductImage.product_id), col(ProductImage.position), col(ProductImage.id))
    )
    for image in session.exec(stmt).all():
        found[image.product_id].append(image)
    return found


def first_images(session: Session, product_ids: Sequence[int]) -> dict[int, ProductImage]:
    """The main photo of each product, in one query."""
    if not product_ids:
        return {}
    ranked = (
        select(
            ProductImage.id,
            func.row_number()
            .over(
                partition_by=col(ProductImage.product_id),
                order_by=(col(ProductImage.position), col(ProductImage.id)),
            )
            .label("rank"),
        )
        .where(col(ProductImage.product_id).in_(list(product_ids)))
        .subquery()
    )
    stmt = select(ProductImage).join(ranked, ranked.c.id == ProductImage.id).where(ranked.c.rank == 1)
    return {image.product_id: image for image in session.exec(stmt).all()}


def tags_for(session: Session, product_id: int) -> list[str]:
    stmt = select(ProductTag.tag).where(ProductTag.product_id == product_id).order_by(col(ProductTag.tag))
    return list(session.exec(stmt).all())


def variant_by_sku(session: Session, sku: str) -> tuple[Product, Variant] | None:
    row = session.exec(
        select(Product, Variant)
        .join(Variant, col(Variant.product_id) == Product.id)
        .where(Variant.sku == sku)
    ).first()
    return (row[0], row[1]) if row else None


# Built once: add-to-cart asks this on every add, and building the ORM statement and two model
# objects cost ten times the query itself (bench/rush.py).
_PURCHASABLE_SKU = (
    select(Variant.sku)
    .join(Product, col(Product.id) == col(Variant.product_id))
    .where(
        col(Variant.sku) == bindparam("sku"),
        col(Product.is_published) == true(),
        col(Variant.is_available) == true(),
    )
)


def purchasable_sku(session: Session, sku: str) -> str | None:
    """`sku` if a shopper may buy it (the rule of catalog.service.variant_by_sku), else None."""
    return session.connection().execute(_PURCHASABLE_SKU, {"sku": sku}).scalar_one_or_none()


def sku_taken(session: Session, sku: str) -> bool:
    return session.exec(select(Variant.id).where(Variant.sku == sku)).first() is not None


def staff_list(session: Session, *, query: str, limit: int, offset: int) -> Sequence[Product]:
    stmt = select(Product)
    if query:
        like = f"%{query.lower()}%"
        stmt = stmt.where(or_(func.lower(Product.title).like(like), col(Product.slug).like(like)))
    stmt = stmt.order_by(col(Product.position), col(Product.id)).offset(offset).limit(limit)
    return session.exec(stmt).all()


def collections_by_id(session: Session) -> dict[int, Collection]:
    return {c.id: c for c in collections(session) if c.id is not None}


def max_position(session: Session) -> int:
    return int(session.exec(select(func.coalesce(func.max(Product.position), 0))).one())


def neighbour(session: Session, product: Product, direction: str) -> Product | None:
    """The product just before (up) or after (down) this one in display order."""
    if direction == "up":
        stmt = (
            select(Product)
            .where(
                or_(
                    col(Product.position) < product.position,
                    (col(Product.position) == product.position) & (col(Product.id) < product.id),
                )
            )
            .order_by(col(Product.position).desc(), col(Product.id).desc())
        )
    else:
        stmt = (
            select(Product)
            .where(
                or_(
                    col(Product.position) > product.position,
                    (col(Product.position) == product.position) & (col(Product.id) > product.id),
                )
            )
            .order_by(col(Product.position).asc(), col(Product.id).asc())
        )
    return session.exec(stmt.limit(1)).first()


def picks_for_article(session: Session, article_id: int, limit: int) -> Sequence[Product]:
    stmt = (
        select(Product)
        .join(ArticleProduct, col(ArticleProduct.product_id) == Product.id)
        .where(ArticleProduct.article_id == article_id, col(Product.is_published).is_(True))
        .order_by(col(ArticleProduct.position), col(ArticleProduct.id))
        .limit(limit)
    )
    return session.exec(stmt).all()


def tagged_products(
    session: Session, tags: Sequence[str], *, exclude: Sequence[int], limit: int
) -> Sequence[Product]:
    if not tags or limit <= 0:
        return []
    matching = select(ProductTag.product_id).where(col(ProductTag.tag).in_(list(tags))).distinct()
    stmt = select(Product).where(col(Product.is_published).is_(True), col(Product.id).in_(matching))
    if exclude:
        stmt = stmt.where(col(Product.id).not_in(list(exclude)))
    stmt = stmt.order_by(col(Product.position), col(Product.id)).limit(limit)
    return session.exec(stmt).all()


def published_slugs(session: Session, limit: int) -> list[str]:
    stmt = (
        select(Product.slug)
        .where(col(Product.is_published).is_(True))
        .order_by(col(Product.position), col(Product.id))
        .limit(limit)
    )
    return list(session.exec(stmt).all())


# --- the CSV import and export (catalog/csv_io.py): many products at once, in chunks --------------

CHUNK = 500  # stays under every database's limit on bound parameters


def _chunks(values: Sequence[Any]) -> list[list[Any]]:
    items = list(values)
    return [items[i : i + CHUNK] for i in range(0, len(items), CHUNK)]


def products_by_slugs(session: Session, slugs: Sequence[str]) -> dict[str, Product]:
    found: dict[str, Product] = {}
    for part in _chunks(slugs):
        for product in session.exec(select(Product).where(col(Product.slug).in_(part))).all():
            found[product.slug] = product
    return found


def variants_by_skus(session: Session, skus: Sequence[str]) -> dict[str, Variant]:
    found: dict[str, Variant] = {}
    for part in _chunks(skus):
        for variant in session.exec(select(Variant).where(col(Variant.sku).in_(part))).all():
            found[variant.sku] = variant
    return found


def tags_by_product(session: Session, product_ids: Sequence[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = defaultdict(list)
    for part in _chunks(product_ids):
        stmt = select(ProductTag).where(col(ProductTag.product_id).in_(part)).order_by(col(ProductTag.tag))
        for row in session.exec(stmt).all():
            found[row.product_id].append(row.tag)
    return found


def products_after(session: Session, *, after_id: int, limit: int) -> Sequence[Product]:
    stmt = select(Product).where(col(Product.id) > after_id).order_by(col(Product.id)).limit(limit)
    return session.exec(stmt).all()
