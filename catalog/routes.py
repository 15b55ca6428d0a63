"""The shop's pages, the public product API and the staff catalogue desk."""

from __future__ import annotations

import json
import logging
import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from markupsafe import Markup, escape
from sqlmodel import Session
from starlette.datastructures import FormData
from starlette.datastructures import UploadFile as StarletteUploadFile

from catalog import repository, service
from catalog.models import CACHE_NAMESPACE, Collection, Product, ProductImage, Variant
from store import cache
from store.auth.models import Role, StaffUser
from store.config import get_settings
from store.db import get_engine, unit_of_work
from store.deps import STAFF_COOKIE, Db, require_role
from store.errors import DomainError, NotFound
from store.media import MAX_UPLOAD_BYTES, image_srcset, image_url, store_image
from store.money import Money
from store.web import FormDataDep, redirect, render, templates, upload_bytes

log = logging.getLogger("store.catalog")

router = APIRouter()

PAGE_SIZE = 24
MAX_PAGE = 10_000
API_PAGE_SIZE = 24
STAFF_PAGE_SIZE = 50
SORT_LABELS = {
    "featured": "Featured",
    "price-low": "Price, low to high",
    "price-high": "Price, high to low",
    "newest": "Newest",
}
ARTICLE_SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
CSRF_PLACEHOLDER = "__RRM_CSRF_TOKEN__"
FROM_PLACEHOLDER = "<!--RRM_FROM-->"

Catalogue = Annotated[StaffUser, Depends(require_role(Role.catalogue))]


def _trusted(html: str) -> Markup:
    """HTML we rendered ourselves with autoescaping (a cached fragment, JSON-LD with <, >, & escaped)."""
    return Markup(html)  # noqa: S704


def _page_number(raw: str | None) -> int:
    if raw is None or raw == "":
        return 1
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise NotFound("No such page.")
    return int(raw)


def _collection(db: Session, slug: str | None) -> Collection | None:
    if not slug:
        return None
    found = repository.collection_by_slug(db, slug)
    if found is None:
        raise NotFound("No such collection.")
    return found


def _query(**params: Any) -> str:
    parts = [f"{k}={v}" for k, v in params.items() if v not in (None, "", 1, "featured")]
    return "?" + "&".join(parts) if parts else ""


# --- /shop ------------------------------------------------------------------------------------------
#
# Shop pages are `async` and read the cache without touching the database: a hit costs one cache
# lookup plus the per-visitor page shell (CSRF token, cart count). A miss builds the fragment in the
# thread pool with its own short read-only unit of work.


_PART_NAMES = ("title", "head", "main", "draft")
_SEP = "\x1e"  # ASCII record separator: never in our HTML (templates escape control characters away)


def _cached_parts(key: str) -> tuple[str, dict[str, str] | None]:
    store = cache.backend()
    full_key = f"{CACHE_NAMESPACE}:v{store.version(CACHE_NAMESPACE)}:{key}"
    raw = store.get(full_key)
    if raw is None:
        return full_key, None
    return full_key, dict(zip(_PART_NAMES, raw.split(_SEP), strict=False))


def _remember(full_key: str, parts: dict[str, str]) -> None:
    values = [parts.get(name, "") for name in _PART_NAMES]
    if any(_SEP in v for v in values):
        return  # cannot be stored safely; render it fresh next time
    cache.backend().set(full_key, _SEP.join(values), cache.DEFAULT_TTL)


def _build_shop(collection: str | None, sort: str, number: int) -> dict[str, str]:
    with unit_of_work(get_engine(), write=False) as db:
        chosen = _collection(db, collection)
        products = list(
            repository.published_page(
                db,
                collection_id=chosen.id if chosen else None,
                sort=sort,
                limit=PAGE_SIZE + 1,
                offset=(number - 1) * PAGE_SIZE,
            )
        )
        if not products and number > 1:
            raise NotFound("No such page.")
        has_next = len(products) > PAGE_SIZE
        slug = chosen.slug if chosen else None
        base = get_settings().base_url.rstrip("/")
        main = templates.get_template("shop/_listing.html").render(
            cards=service.cards(db, products[:PAGE_SIZE]),
            collections=repository.collections(db),
            chosen=chosen,
            sort=sort,
            sort_labels=SORT_LABELS,
            page=number,
            prev_url=f"/shop{_query(collection=slug, sort=sort, page=number - 1)}" if number > 1 else None,
            next_url=f"/shop{_query(collection=slug, sort=sort, page=number + 1)}" if has_next else None,
        )
        head = templates.get_template("shop/_listing_head.html").render(
            canonical=base + f"/shop{_query(collection=slug, page=number)}"
        )
        title = f"{chosen.title} · Shop" if chosen else "Shop"
        return {"title": title, "head": head, "main": main}


@router.get("/shop", name="catalog.shop")
async def shop(
    request: Request, collection: str | None = None, page: str | None = None, sort: str = "featured"
) -> Response:
    number = _page_number(page)
    sort = sort if sort in repository.SORTS else "featured"
    if collection is not None and not ARTICLE_SLUG_RE.match(collection):
        raise NotFound("No such collection.")
    full_key, parts = _cached_parts(f"shop:{collection or '-'}:{sort}:{number}")
    if parts is None:
        parts = await run_in_threadpool(_build_shop, collection, sort, number)
        _remember(full_key, parts)
    return render(
        request,
        "shop/page.html",
        {
            "page_title": parts["title"],
            "head_html": _trusted(parts["head"]),
            "main_html": _trusted(parts["main"]),
        },
    )


# --- /shop/{slug} ----------------------------------------------------------------------------------


def _staff_may_preview(staff_cookie: str | None, db: Session) -> bool:
    if not staff_cookie:
        return False
    from store.auth.service import user_for_session

    user = user_for_session(db, staff_cookie)
    return bool(user and user.may(Role.catalogue))


def _choice(
    product: Product,
    variants: list[Variant],
    images: list[ProductImage],
    size: str | None,
    colour: str | None,
) -> dict[str, Any]:
    """What the picker shows for the chosen size and colour: the price, whether it's on sale, the photo."""
    sizes = service.option_values(variants, "size")
    colours = service.option_values(variants, "colour")
    size = size if size in sizes else None
    colour = colour if colour in colours else None
    if size is None or colour is None:
        # Start from a sensible choice (size M where there is one) so the page always shows a real price.
        fits = [
            v
            for v in variants
            if v.is_available
            and (size is None or v.options.get("size") == size)
            and (colour is None or v.options.get("colour") == colour)
        ]
        default = next((v for v in fits if v.options.get("size") == "M"), fits[0] if fits else None)
        if default is not None:
            size, colour = default.options.get("size"), default.options.get("colour")
    chosen = (
        next(
            (v for v in variants if v.options.get("size") == size and v.options.get("colour") == colour), None
        )
        if size and colour
        else None
    )
    on_sale = [v for v in variants if v.is_available]
    prices = sorted({v.price_for(product).amount for v in on_sale}) or [product.price]
    photo = next((i for i in images if colour and i.colour and i.colour.lower() == colour.lower()), None)
    photo = photo or (images[0] if images else None)
    return {
        "size": size,
        "colour": colour,
        "sizes": sizes,
        "colours": colours,
        "variant": chosen,
        "price": chosen.price_for(product) if chosen else product.price_money,
        "price_varies": len(prices) > 1 and chosen is None,
        "from_price": Money(prices[0], product.currency),
        "unavailable": [v for v in variants if not v.is_available],
        "sold_out": not on_sale,
        "photo": photo,
    }


def _product_data(db: Session, product: Product) -> tuple[list[Variant], list[ProductImage]]:
    assert product.id is not None
    return (
        repository.variants_for(db, [product.id]).get(product.id, []),
        repository.images_for(db, [product.id]).get(product.id, []),
    )


def _json_ld(product: Product, variants: list[Variant], images: list[ProductImage], base: str) -> str:
    data = {
        "@context": "https://schema.org",
        "@type": "Product",
        "name": product.title,
        "description": product.description,
        "sku": variants[0].sku if variants else product.slug,
        "url": base + service.product_url(product),
        "image": [base + image_url(i.image_key, 1200) for i in images],
        "brand": {"@type": "Brand", "name": "Red Revolution Media"},
        "offers": [
            {
                "@type": "Offer",
                "sku": v.sku,
                "name": f"{product.title} ({' / '.join(v.options.values())})",
                "price": f"{v.price_for(product).to_major():.2f}",
                "priceCurrency": product.currency,
                "availability": "https://schema.org/" + ("InStock" if v.is_available else "OutOfStock"),
                "url": base + service.product_url(product),
            }
            for v in variants
        ],
    }
    # "</script>" inside a string must not end the element.
    return (
        json.dumps(data, ensure_ascii=False)
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
    )


def _render_detail(
    db: Session, product: Product, size: str | None, colour: str | None, collection: Collection | None
) -> dict[str, str]:
    variants, images = _product_data(db, product)
    base = get_settings().base_url.rstrip("/")
    choice = _choice(product, variants, images, size, colour)
    ctx = {
        "product": product,
        "collection": collection,
        "images": images,
        "image_url": image_url,
        "image_srcset": image_srcset,
        "choice": choice,
        "json_ld": _trusted(_json_ld(product, variants, images, base)),
        "canonical": base + service.product_url(product),
        "og_image": base + image_url(images[0].image_key, 1200) if images else None,
        "csrf_token": CSRF_PLACEHOLDER,
        "from_input": _trusted(FROM_PLACEHOLDER),
    }
    head = templates.get_template("shop/_head.html").render(ctx)
    main = templates.get_template("shop/_detail.html").render(ctx)
    return {"title": product.title, "head": head, "main": main}


def _build_product(
    slug: str, size: str | None, colour: str | None, staff_cookie: str | None
) -> tuple[dict[str, str], bool]:
    """The product page's parts, and whether they may be cached (not a staff draft preview)."""
    with unit_of_work(get_engine(), write=False) as db:
        product = repository.product_by_slug(db, slug)
        if product is None:
            raise NotFound("We couldn't find that product. It may have sold out or moved.")
        draft = not product.is_published
        if draft and not _staff_may_preview(staff_cookie, db):
            raise NotFound("We couldn't find that product. It may have sold out or moved.")
        parts = _render_detail(db, product, size, colour, db.get(Collection, product.collection_id))
        parts["draft"] = "1" if draft else ""
        return parts, not draft


@router.get("/shop/{slug}", name="catalog.product")
async def product_page(
    request: Request, slug: str, size: str | None = None, colour: str | None = None
) -> Response:
    from_slug = request.query_params.get("from") or ""
    from_slug = from_slug if ARTICLE_SLUG_RE.match(from_slug) and len(from_slug) <= 160 else ""
    size = (size or "")[:40] or None
    colour = (colour or "")[:40] or None
    if len(slug) > 160:
        raise NotFound("We couldn't find that product. It may have sold out or moved.")

    full_key, cached = _cached_parts(f"product:{slug}:{size or ''}:{colour or ''}")
    if cached is not None:
        parts = cached
    else:
        parts, cacheable = await run_in_threadpool(
            _build_product, slug, size, colour, request.cookies.get(STAFF_COOKIE)
        )
        # Only cache what every shopper sees, and only real option values (a bounded set of keys).
        chosen_ok = (size is None or f'value="{escape(size)}" selected' in parts["main"]) and (
            colour is None or f'value="{escape(colour)}" selected' in parts["main"]
        )
        if cacheable and chosen_ok:
            _remember(full_key, parts)
    from_input = f'<input type="hidden" name="from" value="{escape(from_slug)}">' if from_slug else ""
    main = parts["main"].replace(FROM_PLACEHOLDER, from_input)  # the CSRF token goes in in the template
    return render(
        request,
        "shop/product.html",
        {
            "page_title": parts["title"],
            "head_html": _trusted(parts["head"]),
            "main_html": _trusted(main),
            "draft": bool(parts.get("draft")),
            "csrf_placeholder": CSRF_PLACEHOLDER,
        },
    )


@router.get("/shop/{slug}/choice", name="catalog.choice")
def product_choice(
    request: Request, slug: str, db: Db, size: str | None = None, colour: str | None = None
) -> Response:
    """htmx: the price, availability and photo for the chosen size and colour."""
    product = repository.product_by_slug(db, slug)
    if product is None or not product.is_published:
        raise NotFound("We couldn't find that product.")
    variants, images = _product_data(db, product)
    return render(
        request,
        "shop/_choice.html",
        {
            "product": product,
            "choice": _choice(product, variants, images, size, colour),
            "image_url": image_url,
            "image_srcset": image_srcset,
            "oob": True,
        },
    )


# --- API ------------------------------------------------------------------------------------------------


def _api_product(db: Session, product: Product, collections: dict[int, Collection]) -> dict[str, Any]:
    variants, images = _product_data(db, product)
    return service.product_json(
        product,
        collection=collections.get(product.collection_id),
        variants=variants,
        images=images,
        base_url="",
    )


def _build_api_list(collection: str | None, number: int) -> str | None:
    with unit_of_work(get_engine(), write=False) as db:
        chosen = repository.collection_by_slug(db, collection) if collection else None
        if collection and chosen is None:
            return None
        products = list(
            repository.published_page(
                db,
                collection_id=chosen.id if chosen else None,
                sort="featured",
                limit=API_PAGE_SIZE + 1,
                offset=(number - 1) * API_PAGE_SIZE,
            )
        )
        has_next = len(products) > API_PAGE_SIZE
        products = products[:API_PAGE_SIZE]
        ids = [p.id for p in products if p.id is not None]
        variants = repository.variants_for(db, ids)
        images = repository.images_for(db, ids)
        by_id = repository.collections_by_id(db)
        items = [
            service.product_json(
                p,
                collection=by_id.get(p.collection_id),
                variants=variants.get(p.id or 0, []),
                images=images.get(p.id or 0, []),
                base_url="",
            )
            for p in products
        ]
        query = f"collection={chosen.slug}&" if chosen else ""
        return json.dumps(
            {"items": items, "next": f"/api/products?{query}page={number + 1}" if has_next else None}
        )


def _build_api_product(slug: str) -> str | None:
    with unit_of_work(get_engine(), write=False) as db:
        product = repository.product_by_slug(db, slug)
        if product is None or not product.is_published:
            return None
        return json.dumps(_api_product(db, product, repository.collections_by_id(db)))


def _json(body: str) -> Response:
    return Response(body, media_type="application/json", headers={"Cache-Control": "public, max-age=60"})


@router.get("/api/products", name="catalog.api_products")
async def api_products(collection: str | None = None, page: str | None = None) -> Response:
    if page is not None and page != "" and not (page.isdigit() and 1 <= int(page) <= MAX_PAGE):
        return JSONResponse({"detail": "page must be a whole number from 1"}, status_code=422)
    number = int(page) if page else 1
    if collection and not ARTICLE_SLUG_RE.match(collection):
        return JSONResponse({"detail": "No such collection."}, status_code=404)
    store = cache.backend()
    key = f"{CACHE_NAMESPACE}:v{store.version(CACHE_NAMESPACE)}:api:list:{collection or '-'}:{number}"
    body = store.get(key)
    if body is None:
        body = await run_in_threadpool(_build_api_list, collection or None, number)
        if body is None:
            return JSONResponse({"detail": "No such collection."}, status_code=404)
        store.set(key, body, cache.DEFAULT_TTL)
    return _json(body)


@router.get("/api/products/{slug}", name="catalog.api_product")
async def api_product(slug: str) -> Response:
    store = cache.backend()
    key = f"{CACHE_NAMESPACE}:v{store.version(CACHE_NAMESPACE)}:api:product:{slug}"
    body = store.get(key) if len(slug) <= 160 else None
    if body is None:
        body = await run_in_threadpool(_build_api_product, slug) if len(slug) <= 160 else None
        if body is None:
            return JSONResponse({"detail": "No such product."}, status_code=404)
        store.set(key, body, cache.DEFAULT_TTL)
    return _json(body)


# --- staff ------------------------------------------------------------


@router.get("/staff/catalogue", name="catalog.staff_list")
def staff_list(request: Request, db: Db, user: Catalogue, q: str = "", page: str | None = None) -> Response:
    number = _page_number(page)
    q = q.strip()[:100]
    products = list(
        repository.staff_list(db, query=q, limit=STAFF_PAGE_SIZE + 1, offset=(number - 1) * STAFF_PAGE_SIZE)
    )
    has_next = len(products) > STAFF_PAGE_SIZE
    products = products[:STAFF_PAGE_SIZE]
    ids = [p.id for p in products if p.id is not None]
    return render(
        request,
        "staff/catalogue/list.html",
        {
            "products": products,
            "collections": repository.collections_by_id(db),
            "variants": repository.variants_for(db, ids),
            "q": q,
            "page": number,
            "has_next": has_next,
        },
    )


def _form_page(
    request: Request,
    db: Session,
    form: service.ProductForm,
    product: Product | None,
    *,
    status_code: int = 200,
    variant_errors: dict[str, str] | None = None,
    variant_rows: list[service.VariantRow] | None = None,
) -> Response:
    variants: list[Variant] = []
    images: list[ProductImage] = []
    if product is not None:
        variants, images = _product_data(db, product)
    return render(
        request,
        "staff/catalogue/form.html",
        {
            "form": form,
            "product": product,
            "collections": repository.collections(db),
            "rows": variant_rows
            if variant_rows is not None
            else (service.variant_rows(product, variants) if product else []),
            "variant_errors": variant_errors or {},
            "images": images,
            "image_url": image_url,
            "colours": service.option_values(variants, "colour"),
        },
        status_code=status_code,
    )


def _product_or_404(db: Session, product_id: int) -> Product:
    product = db.get(Product, product_id)
    if product is None:
        raise NotFound("No such product.")
    return product


@router.get("/staff/catalogue/new", name="catalog.staff_new")
def staff_new(request: Request, db: Db, user: Catalogue) -> Response:
    return _form_page(
        request,
        db,
        service.ProductForm(collection="t-shirts", price="25.00", sizes="XS, S, M, L, XL, 2XL, 3XL"),
        None,
    )


@router.post("/staff/catalogue/new", name="catalog.staff_create")
def staff_create(request: Request, db: Db, user: Catalogue, data: FormDataDep) -> Response:
    return _save(request, db, None, user, data)


@router.get("/staff/catalogue/{product_id:int}", name="catalog.staff_edit")
def staff_edit(request: Request, product_id: int, db: Db, user: Catalogue) -> Response:
    product = _product_or_404(db, product_id)
    return _form_page(request, db, service.form_from_product(db, product), product)


@router.post("/staff/catalogue/{product_id:int}", name="catalog.staff_update")
def staff_update(request: Request, product_id: int, db: Db, user: Catalogue, data: FormDataDep) -> Response:
    return _save(request, db, _product_or_404(db, product_id), user, data)


def _text(data: FormData, name: str, limit: int = 20_000) -> str:
    value = data.get(name)
    return value[:limit] if isinstance(value, str) else ""


def _read_photo(data: FormData, name: str, errors: dict[str, str]) -> bytes:
    photo = data.get(name)
    if not isinstance(photo, StarletteUploadFile) or not photo.filename:
        return b""
    if photo.size is not None and photo.size > MAX_UPLOAD_BYTES:
        errors[name] = "That image is larger than 10 MB. Please upload a smaller one."
        return b""
    content = upload_bytes(photo, MAX_UPLOAD_BYTES)
    if len(content) > MAX_UPLOAD_BYTES:
        errors[name] = "That image is larger than 10 MB. Please upload a smaller one."
        return b""
    if not content:
        errors[name] = "That file is empty. Choose an image to upload."
    return content


def _store_photo(upload: bytes, alt: str, errors: dict[str, str], field: str) -> str | None:
    if not upload:
        return None
    if not alt.strip():
        errors["alt"] = "Describe the photo for people who can't see it."
        return None
    try:
        return store_image(upload, field=field).key
    except DomainError as exc:
        errors[field] = exc.message
        return None


def _save(
    request: Request, db: Session, product: Product | None, user: StaffUser, data: FormData
) -> Response:
    form = service.ProductForm(
        title=_text(data, "title", 300),
        slug=_text(data, "slug", 200),
        description=_text(data, "description"),
        collection=_text(data, "collection", 60),
        price=_text(data, "price", 30),
        sizes=_text(data, "sizes", 2000),
        colours=_text(data, "colours", 2000),
        tags=_text(data, "tags", 2000),
        published=bool(_text(data, "published")),
        alt=_text(data, "alt", 300),
    )
    upload = _read_photo(data, "photo", form.errors)
    service.validate(db, form, existing=product)
    if form.errors:
        return _form_page(request, db, form, product, status_code=422)
    photo_key = _store_photo(upload, form.alt, form.errors, "photo")
    if form.errors:
        return _form_page(request, db, form, product, status_code=422)
    saved = service.save_product(db, form=form, product=product, photo_key=photo_key)
    log.info(
        "product saved", extra={"product_id": saved.id, "staff_id": user.id, "published": saved.is_published}
    )
    return redirect(f"/staff/catalogue/{saved.id}", "Product saved.")


@router.post("/staff/catalogue/{product_id:int}/variants", name="catalog.staff_variants")
def staff_variants(request: Request, product_id: int, db: Db, user: Catalogue, data: FormDataDep) -> Response:
    product = _product_or_404(db, product_id)
    variants, _ = _product_data(db, product)
    rows: dict[int, dict[str, Any]] = {}
    for v in variants:
        rows[v.id or 0] = {
            name: _text(data, f"{name}-{v.id}", 1000)
            for name in (
                "price_override",
                "provider_cost",
                "provider_variant_id",
                "print_file_url",
                "available",
            )
        }
    errors = service.update_variants(db, product=product, variants=variants, rows=rows)
    if errors:
        shown = service.variant_rows(product, variants)
        for row in shown:
            values = rows.get(row.variant.id or 0, {})
            row.price_override = values.get("price_override", "")
            row.provider_cost = values.get("provider_cost", "")
            row.provider_variant_id = values.get("provider_variant_id", "")
            row.print_file_url = values.get("print_file_url", "")
            row.available = bool(values.get("available"))
        return _form_page(
            request,
            db,
            service.form_from_product(db, product),
            product,
            status_code=422,
            variant_errors=errors,
            variant_rows=shown,
        )
    return redirect(f"/staff/catalogue/{product_id}#variants", "Variants saved.")


@router.post("/staff/catalogue/{product_id:int}/photos", name="catalog.staff_photo_add")
def staff_photo_add(
    request: Request, product_id: int, db: Db, user: Catalogue, data: FormDataDep
) -> Response:
    product = _product_or_404(db, product_id)
    errors: dict[str, str] = {}
    alt = _text(data, "photo_alt", 300)
    colour = _text(data, "photo_colour", 60) or None
    upload = _read_photo(data, "extra_photo", errors)
    if not upload and not errors:
        errors["extra_photo"] = "Choose an image file to upload."
    if not alt.strip() and not errors:
        errors["photo_alt"] = "Describe the photo for people who can't see it."
    key = None if errors else _store_photo(upload, alt, errors, "extra_photo")
    if errors or key is None:
        form = service.form_from_product(db, product)
        form.errors.update(errors)
        return _form_page(request, db, form, product, status_code=422)
    service.add_image(db, product_id=product_id, image_key=key, alt=alt, colour=colour)
    return redirect(f"/staff/catalogue/{product_id}#photos", "Photo added.")


@router.post(
    "/staff/catalogue/{product_id:int}/photos/{image_id:int}/delete", name="catalog.staff_photo_delete"
)
def staff_photo_delete(product_id: int, image_id: int, db: Db, user: Catalogue) -> Response:
    service.remove_image(db, product_id=product_id, image_id=image_id)
    return redirect(f"/staff/catalogue/{product_id}#photos", "Photo removed.")


@router.post("/staff/catalogue/{product_id:int}/photos/{image_id:int}/main", name="catalog.staff_photo_main")
def staff_photo_main(product_id: int, image_id: int, db: Db, user: Catalogue) -> Response:
    service.make_main_image(db, product_id=product_id, image_id=image_id)
    return redirect(f"/staff/catalogue/{product_id}#photos", "Main photo changed.")


@router.post("/staff/catalogue/{product_id:int}/publish", name="catalog.staff_publish")
def staff_publish(
    product_id: int, db: Db, user: Catalogue, publish: Annotated[str, Form()] = "1"
) -> Response:
    product = service.set_published(db, product_id=product_id, published=publish == "1")
    return redirect(
        f"/staff/catalogue/{product_id}",
        "Product published." if product.is_published else "Product unpublished.",
    )


@router.post("/staff/catalogue/{product_id:int}/move", name="catalog.staff_move")
def staff_move(
    product_id: int, db: Db, user: Catalogue, direction: Annotated[str, Form()] = "up"
) -> Response:
    service.move(db, product_id=product_id, direction=direction)
    return redirect("/staff/catalogue", "Order changed.")
