"""The public, read-only product API (CONTRACT.md "JSON API"): lists, search and single products.
Answers go through the page cache like the shop's pages (no per-visitor bits in them)."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from catalog import repository, search, service
from catalog.models import CACHE_NAMESPACE
from catalog.params import MAX_PAGE, is_slug
from store.deps import Db
from store.page_cache import only_params, respond

router = APIRouter()

API_PAGE_SIZE = 24
NAMESPACES = (CACHE_NAMESPACE,)
JSON = "application/json"
CACHE_CONTROL = "public, max-age=60"


def _json(request: Request, data: object, *, cacheable: bool) -> Response:
    return respond(
        request,
        json.dumps(data),
        namespaces=NAMESPACES,
        cacheable=cacheable,
        media_type=JSON,
        cache_control=CACHE_CONTROL,
    )


@router.get("/api/products", name="catalog.api_products")
def api_products(
    request: Request, db: Db, collection: str | None = None, page: str | None = None, q: str | None = None
) -> Response:
    if page is not None and page != "" and not (page.isdigit() and 1 <= int(page) <= MAX_PAGE):
        return JSONResponse({"detail": "page must be a whole number from 1"}, status_code=422)
    number = int(page) if page else 1
    chosen = repository.collection_by_slug(db, collection) if collection and is_slug(collection) else None
    if collection and chosen is None:
        return JSONResponse({"detail": "No such collection."}, status_code=404)
    query = (q or "").strip()[: search.MAX_QUERY_LENGTH]
    offset = (number - 1) * API_PAGE_SIZE
    collection_id = chosen.id if chosen else None
    if query:
        found = search.search(db, query, collection_id=collection_id, limit=API_PAGE_SIZE + 1, offset=offset)
    else:
        found = repository.published_page(
            db, collection_id=collection_id, sort="featured", limit=API_PAGE_SIZE + 1, offset=offset
        )
    products = list(found)
    params = [("q", query)] if query else []
    params += [("collection", chosen.slug)] if chosen else []
    params += [("page", str(number + 1))]
    return _json(
        request,
        {
            "items": service.products_json(db, products[:API_PAGE_SIZE]),
            "next": f"/api/products?{urlencode(params)}" if len(products) > API_PAGE_SIZE else None,
        },
        cacheable=not query and only_params(request, ("collection", "page")),
    )


@router.get("/api/products/{slug}", name="catalog.api_product")
def api_product(request: Request, slug: str, db: Db) -> Response:
    product = repository.product_by_slug(db, slug) if len(slug) <= 160 else None
    if product is None or not product.is_published:
        return JSONResponse({"detail": "No such product."}, status_code=404)
    return _json(request, service.products_json(db, [product])[0], cacheable=only_params(request, ()))
