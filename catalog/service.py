"""Catalogue rules: what shoppers may buy, how staff edit it. Keyword-only; never commits."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, col, delete, select

from catalog import repository
from catalog.models import (
    CACHE_NAMESPACE,
    ArticleProduct,
    Collection,
    Product,
    ProductImage,
    ProductTag,
    Variant,
)
from catalog.pricing import margin
from store import cache
from store.errors import DomainError, NotFound
from store.media import image_srcset, image_url
from store.money import Money
from store.text import slugify
from store.timeutil import utcnow

SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
SIZE_ORDER = ["XS", "S", "M", "L", "XL", "2XL", "3XL", "4XL", "5XL"]
MAX_PRICE_PENCE = 1_000_000  # £10,000: anything above is a typo
MAX_OPTIONS = 20
MAX_COMBINATIONS = 200
CARD_WIDTHS = (320, 640)  # a card is drawn at most ~260 px wide: 640 covers it at 2x and near 3x


# --- what other domains call --------------------------------------------------------------------


def product_url(product: Product) -> str:
    return f"/shop/{product.slug}"


def primary_image_key(session: Session, product_id: int) -> str | None:
    image = repository.first_images(session, [product_id]).get(product_id)
    return image.image_key if image else None


def variant_by_sku(session: Session, sku: str) -> tuple[Product, Variant] | None:
    """The product and variant a shopper may buy under this SKU; None for drafts and unavailable ones."""
    found = repository.variant_by_sku(session, sku)
    if found is None:
        return None
    product, variant = found
    if not product.is_published or not variant.is_available:
        return None
    return product, variant


# Add-to-cart asks `purchasable_sku` on every add. A SKU found purchasable is remembered for the
# catalogue's cache version read BEFORE the query (as store.cache.cached does), so an answer read from
# data that changed meanwhile is never used after the change: any committed catalogue change (a
# variant withdrawn, a product unpublished) bumps the version, and from then on the memory is unused.
# Only "yes" is remembered, so made-up SKUs cannot fill it; bounded all the same.
MAX_REMEMBERED_SKUS = 10_000
_remembered: tuple[str, set[str]] = ("", set())


def purchasable_sku(session: Session, sku: str) -> str | None:
    """The same rule as `variant_by_sku` in one indexed query, without loading the product: for
    add-to-cart, which needs only the answer (no query at all for a SKU already seen in this process
    since the catalogue last changed)."""
    global _remembered
    version = cache.version(CACHE_NAMESPACE)
    seen_in, seen = _remembered
    if seen_in == version and sku in seen:
        return sku
    found = repository.purchasable_sku(session, sku)
    if found is not None:
        seen_in, seen = _remembered
        if seen_in != version:
            seen = set()
            _remembered = (version, seen)
        if len(seen) < MAX_REMEMBERED_SKUS:
            seen.add(found)
    return found


def resolve_variant(
    session: Session, *, product_slug: str, options: dict[str, str]
) -> tuple[Product, Variant] | None:
    """The available variant of a published product whose options match exactly (case-insensitive)."""
    product = repository.product_by_slug(session, product_slug)
    if product is None or not product.is_published or product.id is None:
        return None
    wanted = {k.lower(): str(v).strip().lower() for k, v in options.items() if v is not None}
    for variant in repository.variants_for(session, [product.id]).get(product.id, []):
        have = {k.lower(): str(v).lower() for k, v in variant.options.items()}
        if have == wanted:
            return (product, variant) if variant.is_available else None
    return None


# --- options --------------------------------------------------------------------------------------


def _size_key(size: str) -> tuple[int, str]:
    upper = size.upper()
    return (SIZE_ORDER.index(upper), "") if upper in SIZE_ORDER else (len(SIZE_ORDER), size)


def option_values(variants: Sequence[Variant], name: str, *, available_only: bool = False) -> list[str]:
    """Distinct values of one option in display order (sizes XS→3XL, the rest as created)."""
    seen: list[str] = []
    for variant in variants:
        if available_only and not variant.is_available:
            continue
        value = variant.options.get(name)
        if value is not None and value not in seen:
            seen.append(value)
    if name == "size":
        seen.sort(key=_size_key)
    return seen


def parse_list(text: str) -> list[str]:
    values: list[str] = []
    for raw in text.split(","):
        value = " ".join(raw.split())
        if value and value.lower() not in {v.lower() for v in values}:
            values.append(value)
    return values


def _sku_part(text: str, limit: int) -> str:
    return re.sub(r"[^A-Z0-9]+", "-", text.upper()).strip("-")[:limit].strip("-") or "X"


def make_sku(session: Session, *, slug: str, size: str, colour: str, taken: set[str]) -> str:
    base = f"RRM-{_sku_part(slug, 36)}-{_sku_part(colour, 12)}-{_sku_part(size, 10)}"
    sku, n = base, 2
    while sku in taken or repository.sku_taken(session, sku):
        sku = f"{base}-{n}"
        n += 1
    taken.add(sku)
    return sku


# --- shopper-facing views -------------------------------------------------------------------------


@dataclass(frozen=True)
class ProductCard:
    """What templates/components/product_card.html needs."""

    slug: str
    url: str
    title: str
    price: Money
    image_src: str | None
    image_alt: str
    image_srcset: str | None = None


def cards(
    session: Session, products: Sequence[Product], *, from_article: str | None = None
) -> list[ProductCard]:
    """Cards for products in one extra query (their main photos), whatever the number of products."""
    ids = [p.id for p in products if p.id is not None]
    images = repository.first_images(session, ids)
    suffix = f"?from={from_article}" if from_article else ""
    result = []
    for product in products:
        image = images.get(product.id) if product.id is not None else None
        result.append(
            ProductCard(
                slug=product.slug,
                url=product_url(product) + suffix,
                title=product.title,
                price=product.price_money,
                image_src=image_url(image.image_key, 320) if image else None,
                image_alt=image.alt if image else "",
                image_srcset=image_srcset(image.image_key, CARD_WIDTHS) if image else None,
            )
        )
    return result


# --- the product page: what it shows and what the picker offers ------------------------------------


def variants_and_images(session: Session, product: Product) -> tuple[list[Variant], list[ProductImage]]:
    assert product.id is not None
    return (
        repository.variants_for(session, [product.id]).get(product.id, []),
        repository.images_for(session, [product.id]).get(product.id, []),
    )


@dataclass(frozen=True)
class Choice:
    """What the size/colour picker shows for a choice: the price, whether it's on sale, the photo."""

    size: str | None
    colour: str | None
    sizes: list[str]
    colours: list[str]
    variant: Variant | None
    price: Money
    price_varies: bool  # no variant chosen and prices differ: show "From …"
    from_price: Money
    unavailable: list[Variant]
    sold_out: bool
    photo: ProductImage | None


def choose(
    product: Product,
    variants: Sequence[Variant],
    images: Sequence[ProductImage],
    *,
    size: str | None,
    colour: str | None,
) -> Choice:
    """The picker's state for the asked size and colour (unknown values are ignored). With none
    asked, a sensible default (size M where there is one) so the page always shows a real price."""
    sizes = option_values(variants, "size")
    colours = option_values(variants, "colour")
    size = size if size in sizes else None
    colour = colour if colour in colours else None
    if size is None or colour is None:
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
    return Choice(
        size=size,
        colour=colour,
        sizes=sizes,
        colours=colours,
        variant=chosen,
        price=chosen.price_for(product) if chosen else product.price_money,
        price_varies=len(prices) > 1 and chosen is None,
        from_price=Money(prices[0], product.currency),
        unavailable=[v for v in variants if not v.is_available],
        sold_out=not on_sale,
        photo=photo or (images[0] if images else None),
    )


def json_ld(
    product: Product, variants: Sequence[Variant], images: Sequence[ProductImage], *, base_url: str
) -> dict[str, Any]:
    """schema.org Product with an Offer per variant, for search engines."""
    base = base_url.rstrip("/")
    url = base + product_url(product)
    return {
        "@context": "https://schema.org",
        "@type": "Product",
        "name": product.title,
        "description": product.description,
        "sku": variants[0].sku if variants else product.slug,
        "url": url,
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
                "url": url,
            }
            for v in variants
        ],
    }


def products_json(session: Session, products: Sequence[Product]) -> list[dict[str, Any]]:
    """The API's `Product` for each, in three queries whatever their number."""
    ids = [p.id for p in products if p.id is not None]
    variants = repository.variants_for(session, ids)
    images = repository.images_for(session, ids)
    by_id = repository.collections_by_id(session)
    return [
        product_json(
            p,
            collection=by_id.get(p.collection_id),
            variants=variants.get(p.id or 0, []),
            images=images.get(p.id or 0, []),
            base_url="",
        )
        for p in products
    ]


def product_json(
    product: Product,
    *,
    collection: Collection | None,
    variants: Sequence[Variant],
    images: Sequence[ProductImage],
    base_url: str,
) -> dict[str, Any]:
    """The API's `Product` (CONTRACT.md)."""
    base = base_url.rstrip("/")
    return {
        "slug": product.slug,
        "title": product.title,
        "collection": collection.slug if collection else None,
        "url": base + product_url(product),
        "images": [base + image_url(i.image_key, 1200) for i in images],
        "price": product.price_money.as_json(),
        "variants": [
            {
                "sku": v.sku,
                "options": {"size": v.options.get("size"), "colour": v.options.get("colour")},
                "price": v.price_for(product).as_json(),
                "available": v.is_available,
            }
            for v in variants
        ],
    }


# --- staff: the product form ------------------------------------------------------------------------


@dataclass
class ProductForm:
    title: str = ""
    slug: str = ""
    description: str = ""
    collection: str = ""
    price: str = ""
    sizes: str = ""
    colours: str = ""
    tags: str = ""
    published: bool = False
    alt: str = ""
    errors: dict[str, str] = field(default_factory=dict)
    # filled by validate()
    price_pence: int = 0
    size_list: list[str] = field(default_factory=list)
    colour_list: list[str] = field(default_factory=list)


def form_from_product(session: Session, product: Product) -> ProductForm:
    assert product.id is not None
    variants = repository.variants_for(session, [product.id]).get(product.id, [])
    collection = session.get(Collection, product.collection_id)
    return ProductForm(
        title=product.title,
        slug=product.slug,
        description=product.description,
        collection=collection.slug if collection else "",
        price=f"{product.price_money.to_major():.2f}",
        sizes=", ".join(option_values(variants, "size", available_only=True)),
        colours=", ".join(option_values(variants, "colour", available_only=True)),
        tags=", ".join(repository.tags_for(session, product.id)),
        published=product.is_published,
    )


def validate(session: Session, form: ProductForm, *, existing: Product | None) -> None:
    form.title = form.title.strip()
    form.slug = (form.slug.strip() or slugify(form.title)).lower()
    if not form.title:
        form.errors["title"] = "Enter the product's title."
    elif len(form.title) > 200:
        form.errors["title"] = "Keep the title under 200 characters."
    if not SLUG_RE.match(form.slug or "") or len(form.slug) > 150:
        form.errors["slug"] = "Use lower-case letters, numbers and hyphens only."
    else:
        other = repository.product_by_slug(session, form.slug)
        if other is not None and (existing is None or other.id != existing.id):
            form.errors["slug"] = "Another product already uses this address."
    if repository.collection_by_slug(session, form.collection) is None:
        form.errors["collection"] = "Choose a collection."
    try:
        price = Money.from_major(form.price)
        if price.amount <= 0 or price.amount > MAX_PRICE_PENCE:
            raise ValueError
        form.price_pence = price.amount
    except ValueError:
        form.errors["price"] = "Enter a price in pounds between 0.01 and 10000, like 25.00."
    form.size_list = parse_list(form.sizes)
    form.colour_list = parse_list(form.colours)
    for name, values, word in (("sizes", form.size_list, "size"), ("colours", form.colour_list, "colour")):
        if not values:
            form.errors[name] = f"Enter at least one {word}, separated by commas."
        elif len(values) > MAX_OPTIONS:
            form.errors[name] = f"At most {MAX_OPTIONS} of these."
        elif any(len(v) > 40 for v in values):
            form.errors[name] = "Keep each one under 40 characters."
    if len(form.size_list) * len(form.colour_list) > MAX_COMBINATIONS:
        form.errors["colours"] = f"That makes more than {MAX_COMBINATIONS} variants."


def save_product(
    session: Session, *, form: ProductForm, product: Product | None, photo_key: str | None
) -> Product:
    """Create or update a product; every size × colour becomes a variant with its own SKU.

    Combinations no longer listed are made unavailable rather than deleted: orders refer to SKUs.
    """
    validate(session, form, existing=product)
    if form.errors:
        raise DomainError("Please correct the errors below.")
    collection = repository.collection_by_slug(session, form.collection)
    assert collection is not None and collection.id is not None
    if product is None:
        product = Product(
            title=form.title,
            slug=form.slug,
            collection_id=collection.id,
            price=form.price_pence,
            position=repository.max_position(session) + 1,
        )
    old_slug = product.slug
    product.title = form.title
    product.slug = form.slug
    product.description = form.description.strip()
    product.collection_id = collection.id
    product.price = form.price_pence
    product.is_published = form.published
    product.updated_at = utcnow()
    session.add(product)
    session.flush()
    assert product.id is not None
    _sync_variants(
        session, product=product, old_slug=old_slug, sizes=form.size_list, colours=form.colour_list
    )
    set_tags(session, product_id=product.id, tags=parse_list(form.tags))
    if photo_key:
        add_image(session, product_id=product.id, image_key=photo_key, alt=form.alt, colour=None)
    return product


def _sync_variants(
    session: Session, *, product: Product, old_slug: str, sizes: list[str], colours: list[str]
) -> None:
    assert product.id is not None
    existing = repository.variants_for(session, [product.id]).get(product.id, [])
    by_combo = {(v.options.get("size", "").lower(), v.options.get("colour", "").lower()): v for v in existing}
    shown = _available(existing)
    wanted: set[tuple[str, str]] = set()
    taken: set[str] = set()
    position = 0
    for colour in colours:
        for size in sorted(sizes, key=_size_key):
            combo = (size.lower(), colour.lower())
            wanted.add(combo)
            variant = by_combo.get(combo)
            if variant is None:
                variant = Variant(
                    product_id=product.id,
                    sku=make_sku(
                        session, slug=product.slug or old_slug, size=size, colour=colour, taken=taken
                    ),
                    options={"size": size, "colour": colour},
                )
                variant.is_available = True
            elif not variant.is_available and combo not in shown:
                # listed again after being dropped from the grid: back on sale
                variant.is_available = True
            variant.position = position
            position += 1
            session.add(variant)
    for combo, variant in by_combo.items():
        if combo not in wanted and variant.is_available:
            variant.is_available = False
            session.add(variant)


def _available(variants: Sequence[Variant]) -> set[tuple[str, str]]:
    # Combinations that the form showed (their size and colour were both still listed).
    sizes = {s.lower() for s in option_values(variants, "size", available_only=True)}
    colours = {c.lower() for c in option_values(variants, "colour", available_only=True)}
    return {
        (v.options.get("size", "").lower(), v.options.get("colour", "").lower())
        for v in variants
        if v.options.get("size", "").lower() in sizes and v.options.get("colour", "").lower() in colours
    }


def set_tags(session: Session, *, product_id: int, tags: list[str]) -> None:
    session.execute(delete(ProductTag).where(col(ProductTag.product_id) == product_id))
    for tag in sorted({slugify(t) for t in tags if slugify(t)}):
        session.add(ProductTag(product_id=product_id, tag=tag[:60]))


# --- staff: variants, photos, publishing, order ---------------------------------------------------


@dataclass
class VariantRow:
    variant: Variant
    price_override: str = ""
    provider_cost: str = ""
    provider_variant_id: str = ""
    print_file_url: str = ""
    available: bool = True
    margin: Money | None = None


def variant_rows(product: Product, variants: Sequence[Variant]) -> list[VariantRow]:
    rows = []
    for v in variants:
        price = v.price_for(product)
        rows.append(
            VariantRow(
                variant=v,
                price_override=""
                if v.price_override is None
                else f"{Money(v.price_override).to_major():.2f}",
                provider_cost=f"{Money(v.provider_cost).to_major():.2f}",
                provider_variant_id="" if v.provider_variant_id is None else str(v.provider_variant_id),
                print_file_url=v.print_file_url,
                available=v.is_available,
                margin=margin(
                    price=price,
                    provider_cost=Money(v.provider_cost, product.currency),
                    vat_rate_bp=product.vat_rate_bp,
                ),
            )
        )
    return rows


def update_variants(
    session: Session, *, product: Product, variants: Sequence[Variant], rows: dict[int, dict[str, Any]]
) -> dict[str, str]:
    """Apply per-variant edits; returns errors keyed `<field>-<variant id>` (nothing saved if any)."""
    errors: dict[str, str] = {}
    parsed: dict[int, dict[str, Any]] = {}
    for v in variants:
        assert v.id is not None
        row = rows.get(v.id, {})
        out: dict[str, Any] = {"available": bool(row.get("available"))}
        override = str(row.get("price_override", "")).strip()
        try:
            out["price_override"] = None if not override else Money.from_major(override).amount
            if out["price_override"] is not None and not 0 < out["price_override"] <= MAX_PRICE_PENCE:
                raise ValueError
        except ValueError:
            errors[f"price_override-{v.id}"] = "Enter a price in pounds, like 27.00, or leave it empty."
        cost = str(row.get("provider_cost", "")).strip() or "0"
        try:
            out["provider_cost"] = Money.from_major(cost).amount
            if not 0 <= out["provider_cost"] <= MAX_PRICE_PENCE:
                raise ValueError
        except ValueError:
            errors[f"provider_cost-{v.id}"] = "Enter the provider's cost in pounds, like 11.50."
        pvid = str(row.get("provider_variant_id", "")).strip()
        if pvid and not (pvid.isdigit() and len(pvid) < 12):
            errors[f"provider_variant_id-{v.id}"] = "The provider's variant id is a number."
        out["provider_variant_id"] = int(pvid) if pvid.isdigit() and len(pvid) < 12 else None
        url = str(row.get("print_file_url", "")).strip()
        if url and not url.startswith("https://"):
            errors[f"print_file_url-{v.id}"] = "The print file address must start with https://"
        out["print_file_url"] = url[:1000]
        parsed[v.id] = out
    if errors:
        return errors
    for v in variants:
        assert v.id is not None
        values = parsed[v.id]
        v.price_override = values["price_override"]
        v.provider_cost = values["provider_cost"]
        v.provider_variant_id = values["provider_variant_id"]
        v.print_file_url = values["print_file_url"]
        v.is_available = values["available"]
        session.add(v)
    product.updated_at = utcnow()
    session.add(product)
    return {}


def add_image(
    session: Session, *, product_id: int, image_key: str, alt: str, colour: str | None
) -> ProductImage:
    alt = alt.strip()
    if not alt:
        raise DomainError("Describe the photo for people who can't see it.", field="alt")
    images = repository.images_for(session, [product_id]).get(product_id, [])
    image = ProductImage(
        product_id=product_id,
        image_key=image_key,
        alt=alt[:300],
        colour=(colour or None),
        position=max((i.position for i in images), default=-1) + 1,
    )
    session.add(image)
    session.flush()
    return image


def remove_image(session: Session, *, product_id: int, image_id: int) -> None:
    image = session.get(ProductImage, image_id)
    if image is None or image.product_id != product_id:
        raise NotFound("No such photo.")
    session.delete(image)


def make_main_image(session: Session, *, product_id: int, image_id: int) -> None:
    images = repository.images_for(session, [product_id]).get(product_id, [])
    if not any(i.id == image_id for i in images):
        raise NotFound("No such photo.")
    ordered = sorted(images, key=lambda i: (i.id != image_id, i.position, i.id or 0))
    for position, image in enumerate(ordered):
        image.position = position
        session.add(image)


def set_published(session: Session, *, product_id: int, published: bool) -> Product:
    product = session.get(Product, product_id)
    if product is None:
        raise NotFound("No such product.")
    product.is_published = published
    product.updated_at = utcnow()
    session.add(product)
    return product


def move(session: Session, *, product_id: int, direction: str) -> None:
    """Swap a product with its neighbour in the shop's order ("up" or "down")."""
    product = session.get(Product, product_id)
    if product is None:
        raise NotFound("No such product.")
    if direction not in ("up", "down"):
        raise DomainError("Move a product up or down.")
    other = repository.neighbour(session, product, direction)
    if other is None:
        return
    if other.position == product.position:  # ties: spread them out first
        if direction == "up":
            other.position, product.position = product.position, product.position - 1
        else:
            other.position, product.position = product.position, product.position + 1
    else:
        product.position, other.position = other.position, product.position
    session.add_all([product, other])


def pick_for_article(session: Session, *, article_id: int, product_id: int, position: int = 0) -> None:
    exists = session.exec(
        select(ArticleProduct).where(
            ArticleProduct.article_id == article_id, ArticleProduct.product_id == product_id
        )
    ).first()
    if exists is None:
        session.add(ArticleProduct(article_id=article_id, product_id=product_id, position=position))


def ensure_collections(session: Session) -> None:
    for position, (slug, title) in enumerate((("t-shirts", "T-shirts"), ("cushions", "Cushions"))):
        if repository.collection_by_slug(session, slug) is None:
            session.add(Collection(slug=slug, title=title, position=position))
    session.flush()
