"""The shop's pages: the listing (/shop: collections, order, pages and search) and the product page
with its size/colour picker. Shoppers' pages go through the page cache (store/page_cache.py): a
repeat visit is served from a stored copy before it reaches these handlers."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlmodel import Session

from catalog import repository, search, service
from catalog.models import CACHE_NAMESPACE, Collection, Product
from catalog.params import collection_or_404, is_slug, page_number, query_string
from store.auth.models import Role
from store.auth.service import user_for_session
from store.config import get_settings
from store.deps import STAFF_COOKIE, Db
from store.errors import NotFound
from store.media import image_srcset, image_url
from store.page_cache import only_params, render_page
from store.web import render

router = APIRouter()

PAGE_SIZE = 24
NAMESPACES = (CACHE_NAMESPACE,)
SORT_LABELS = {
    "featured": "Featured",
    "price-low": "Price, low to high",
    "price-high": "Price, high to low",
    "newest": "Newest",
}
PRODUCT_NOT_FOUND = "We couldn't find that product. It may have sold out or moved."


@router.get("/shop", name="catalog.shop")
def shop(
    request: Request,
    db: Db,
    collection: str | None = None,
    page: str | None = None,
    sort: str | None = None,
    q: str | None = None,
) -> Response:
    number = page_number(page)
    chosen = collection_or_404(db, collection)
    query = (q or "").strip()[: search.MAX_QUERY_LENGTH]
    if query:
        return _search_results(request, db, query, chosen, number)
    order = sort if sort in repository.SORTS else "featured"
    products = list(
        repository.published_page(
            db,
            collection_id=chosen.id if chosen else None,
            sort=order,
            limit=PAGE_SIZE + 1,
            offset=(number - 1) * PAGE_SIZE,
        )
    )
    if not products and number > 1:
        raise NotFound("No such page.")
    slug = chosen.slug if chosen else None
    base = get_settings().base_url.rstrip("/")
    return render_page(
        request,
        "shop/listing.html",
        {
            **_listing(
                db, products, number, chosen, lambda n: query_string(collection=slug, sort=order, page=n)
            ),
            "page_title": f"{chosen.title} · Shop" if chosen else "Shop",
            "sort": order,
            "sort_labels": SORT_LABELS,
            "canonical": f"{base}/shop{query_string(collection=slug, page=number)}",
        },
        namespaces=NAMESPACES,
        # Only the URLs the pages themselves link to, so the cache holds a bounded set of keys.
        cacheable=only_params(request, ("collection", "page", "sort")) and (sort is None or sort == order),
    )


def _search_results(
    request: Request, db: Session, query: str, chosen: Collection | None, number: int
) -> Response:
    products = list(
        search.search(
            db,
            query,
            collection_id=chosen.id if chosen else None,
            limit=PAGE_SIZE + 1,
            offset=(number - 1) * PAGE_SIZE,
        )
    )
    slug = chosen.slug if chosen else None
    return render_page(
        request,
        "shop/listing.html",
        {
            **_listing(
                db, products, number, chosen, lambda n: query_string(q=query, collection=slug, page=n)
            ),
            "page_title": f"Search: {query} · Shop",
            "search_query": query,
        },
        namespaces=NAMESPACES,
        cacheable=False,  # shoppers' words: an unbounded set of keys, and fast enough without
    )


def _listing(
    db: Session,
    products: Sequence[Product],
    number: int,
    chosen: Collection | None,
    link: Callable[[int], str],
) -> dict[str, object]:
    """What the listing shows of a page of `products` (one more than a page: "Next page" if so);
    `link(n)` is the query string of page n."""
    has_next = len(products) > PAGE_SIZE
    return {
        "cards": service.cards(db, products[:PAGE_SIZE]),
        "collections": repository.collections(db),
        "chosen": chosen,
        "page": number,
        "prev_url": "/shop" + link(number - 1) if number > 1 else None,
        "next_url": "/shop" + link(number + 1) if has_next else None,
    }


# --- the product page --------------------------------------------------------------------------------


@router.get("/shop/{slug}", name="catalog.product")
def product_page(
    request: Request, slug: str, db: Db, size: str | None = None, colour: str | None = None
) -> Response:
    product = repository.product_by_slug(db, slug) if len(slug) <= 160 else None
    if product is None or (not product.is_published and not _staff_may_preview(request, db)):
        raise NotFound(PRODUCT_NOT_FOUND)
    return render_product(request, db, product, values={"size": size or "", "colour": colour or ""})


def render_product(
    request: Request,
    db: Session,
    product: Product,
    *,
    values: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    """The product page, with the picker set to `values` ("size", "colour", "quantity", "from") and
    each of `errors` next to its field ("size", "colour", "quantity"; "add" above the button).

    For other routes too: the cart re-renders it when "Add to cart" fails (values kept, 422). Only
    the plain page (no errors, no quantity) is cached for other shoppers.
    """
    # An empty quantity is kept (shown empty beside its error); other empty values mean "not chosen".
    values = {k: v[:200] for k, v in (values or {}).items() if v or k == "quantity"}
    variants, images = service.variants_and_images(db, product)
    choice = service.choose(product, variants, images, size=values.get("size"), colour=values.get("colour"))
    base = get_settings().base_url.rstrip("/")
    cacheable = (
        not errors
        and status_code == 200
        and product.is_published
        and values.get("size", choice.size) in (*choice.sizes, None)
        and values.get("colour", choice.colour) in (*choice.colours, None)
        and set(values) <= {"size", "colour"}
        and only_params(request, ("size", "colour", "from"))
    )
    return render_page(
        request,
        "shop/product.html",
        {
            "page_title": product.title,
            "product": product,
            "collection": db.get(Collection, product.collection_id),
            "collections": repository.collections(db),
            "images": images,
            "image_url": image_url,
            "image_srcset": image_srcset,
            "choice": choice,
            "values": values,
            "errors": errors or {},
            "json_ld": service.json_ld(product, variants, images, base_url=base),
            "canonical": base + service.product_url(product),
            "og_image": base + image_url(images[0].image_key, 1200) if images else None,
            "draft": not product.is_published,
            "from_article": values.get("from") if is_slug(values.get("from", "")) else None,
        },
        namespaces=NAMESPACES,
        cacheable=cacheable,
        status_code=status_code,
    )


def _staff_may_preview(request: Request, db: Session) -> bool:
    cookie = request.cookies.get(STAFF_COOKIE)
    user = user_for_session(db, cookie) if cookie else None
    return bool(user and user.may(Role.catalogue))


@router.get("/shop/{slug}/choice", name="catalog.choice")
def product_choice(
    request: Request, slug: str, db: Db, size: str | None = None, colour: str | None = None
) -> Response:
    """htmx: the price, availability and photo for the chosen size and colour."""
    product = repository.product_by_slug(db, slug) if len(slug) <= 160 else None
    if product is None or not product.is_published:
        raise NotFound("We couldn't find that product.")
    variants, images = service.variants_and_images(db, product)
    return render(
        request,
        "shop/_choice.html",
        {
            "product": product,
            "choice": service.choose(product, variants, images, size=size, colour=colour),
            "image_url": image_url,
            "image_srcset": image_srcset,
            "oob": True,
        },
    )
