"""Helpers for catalogue tests: an empty page cache per test, and products made through the service."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from catalog import service
from catalog.models import Product
from store import cache


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    cache.backend().clear()
    cache.bump("catalogue")
    yield
    cache.backend().clear()


@pytest.fixture
def make_product(db):  # type: ignore[no-untyped-def]
    """Create (and commit) a product with every size × colour as a variant."""

    def make(
        title: str = "No War t-shirt",
        *,
        slug: str = "",
        collection: str = "t-shirts",
        price: str = "25.00",
        sizes: str = "S, M, L",
        colours: str = "Black, White",
        tags: str = "",
        published: bool = True,
        description: str = "A shirt.",
    ) -> Product:
        service.ensure_collections(db)
        form = service.ProductForm(
            title=title,
            slug=slug,
            description=description,
            collection=collection,
            price=price,
            sizes=sizes,
            colours=colours,
            tags=tags,
            published=published,
        )
        product = service.save_product(db, form=form, product=None, photo_key=None)
        db.commit()
        return product

    return make
