"""Shop search over titles, descriptions, tags and SKUs: one interface, SQLite FTS5 or PostgreSQL
full text chosen by the session's dialect.

The index is the table `product_search` (migration 0009_shop): an FTS5 table on SQLite, a tsvector
column with a GIN index on PostgreSQL. Database triggers keep it in step with every change to
products, their tags and their variants, whichever code makes it (staff pages, CSV import, a
migration), so nothing here writes to it.

A query is reduced to its words (letters and digits) before it reaches the database, so FTS syntax
(quotes, `*`, `:`, `NEAR`, `-`…) is never interpreted and a bad query can only find nothing. Every
word must match, stemmed (English): "cushions" finds "cushion"; a whole SKU finds its product
straight from the variant table. Results are ranked: a word in the
title counts most, then tags and SKUs, then the description. Only published products are found.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import text
from sqlmodel import Session, select

from catalog import repository
from catalog.models import Product

MAX_QUERY_LENGTH = 200
MAX_WORDS = 10
_WORD = re.compile(r"\w+")
_SKU = re.compile(r"[A-Z0-9]+(?:-[A-Z0-9]+)+")


def words(query: str) -> list[str]:
    """The words of a shopper's query, lower-cased, at most MAX_WORDS (none for punctuation only)."""
    return _WORD.findall(query[:MAX_QUERY_LENGTH].lower())[:MAX_WORDS]


def search(
    session: Session, query: str, *, collection_id: int | None, limit: int, offset: int
) -> Sequence[Product]:
    """Published products matching every word of `query`, best first."""
    found = words(query)
    if not found:
        return []
    sku = query.strip().upper()
    if _SKU.fullmatch(sku) and (exact := repository.variant_by_sku(session, sku)) is not None:
        # A pasted SKU: its product at once (an index lookup; FTS would read the long lists of
        # words every SKU shares, like "RRM").
        product = exact[0]
        wanted = product.is_published and collection_id in (None, product.collection_id)
        return [product] if wanted and offset == 0 else []
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        sql, match = _POSTGRES, " ".join(found)
    else:
        # Each word quoted: an FTS5 string, never an operator. Words are \w+, so no quote inside.
        sql, match = _SQLITE, " ".join(f'"{w}"' for w in found)
    collection = "AND product.collection_id = :collection_id" if collection_id is not None else ""
    statement = text(sql.format(collection=collection)).bindparams(match=match, limit=limit, offset=offset)
    if collection_id is not None:
        statement = statement.bindparams(collection_id=collection_id)
    return session.scalars(select(Product).from_statement(statement)).all()


# Column weights: title, description, tags, SKUs (bm25 is lower-is-better).
_SQLITE = """
SELECT product.* FROM product_search JOIN product ON product.id = product_search.rowid
WHERE product_search MATCH :match AND product.is_published {collection}
ORDER BY bm25(product_search, 10.0, 1.0, 4.0, 4.0), product.position, product.id
LIMIT :limit OFFSET :offset
"""

_POSTGRES = """
SELECT product.* FROM product_search
JOIN product ON product.id = product_search.product_id,
plainto_tsquery('english', :match) AS query
WHERE product_search.document @@ query AND product.is_published {collection}
ORDER BY ts_rank(product_search.document, query) DESC, product.position, product.id
LIMIT :limit OFFSET :offset
"""
