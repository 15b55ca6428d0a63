"""The catalogue as CSV with Shopify's product columns, in and out.

Layout (Shopify's): rows are grouped by Handle; the first row of a handle carries the product's
fields (Title, Body (HTML), Type, Tags, Published, Status, the option names), and every row may carry
one variant (Option1/Option2 Value, Variant SKU, Variant Price, Cost per item) and one picture
(Image Src, Image Position, Image Alt Text). Columns we do not keep (Vendor, Variant Grams, …) are
ignored; a column missing from the file leaves that field as it is.

Ours on top of Shopify's: Type holds the collection (t-shirts or cushions), the option names must be
Size and Colour (or Color), and "Provider Variant ID" and "Print File URL" carry the print provider's
details. Body (HTML) becomes the plain-text description the product form keeps (paragraphs; tags
dropped, entities decoded), and goes out again as <p> paragraphs.

Import: every row is checked first and every problem is reported with its line and column; if there
is any, nothing is written. Pictures are fetched (allow-listed hosts only) before the one write
transaction. Products are matched by Handle and variants by SKU (or, without a SKU, by their options);
nothing is ever deleted, and a value that is already what the file says is not written at all, so
importing a file that was just exported changes nothing, not even updated_at.
"""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from sqlmodel import Session

from catalog import repository
from catalog.models import Collection, Product, ProductImage, ProductTag, Variant
from catalog.service import MAX_PRICE_PENCE, SLUG_RE, make_sku, parse_list, slugify
from store.csvio import BOM, plain_cell, rows_text
from store.db import unit_of_work
from store.errors import DomainError
from store.media import ImageRejected, fetch_image, image_url, media_dir, store_image
from store.money import Money
from store.timeutil import utcnow

COLUMNS = (
    "Handle",
    "Title",
    "Body (HTML)",
    "Type",
    "Tags",
    "Published",
    "Option1 Name",
    "Option1 Value",
    "Option2 Name",
    "Option2 Value",
    "Variant SKU",
    "Variant Price",
    "Cost per item",
    "Provider Variant ID",
    "Print File URL",
    "Image Src",
    "Image Position",
    "Image Alt Text",
    "Status",
)
VARIANT_COLUMNS = ("Option1 Value", "Option2 Value", "Variant SKU", "Variant Price")
OPTION_NAMES = {"size": "size", "colour": "colour", "color": "colour"}
MEDIA_URL_RE = re.compile(r"/media/([0-9a-f]{24})-\d+\.webp$")
MAX_FILE_BYTES = 20 * 1024 * 1024
EXPORT_BATCH = 200

Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass(frozen=True)
class Problem:
    line: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}, {self.column}: {self.message}"


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)
    products_created: int = 0
    products_updated: int = 0
    products_unchanged: int = 0
    variants_created: int = 0
    variants_updated: int = 0
    images_added: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        return (
            f"{self.products_created} products created, {self.products_updated} updated, "
            f"{self.products_unchanged} unchanged; {self.variants_created} variants created, "
            f"{self.variants_updated} updated; {self.images_added} pictures added"
        )


class ImportRefused(DomainError):
    """The file had problems; nothing was written."""

    status_code = 422

    def __init__(self, problems: list[Problem]) -> None:
        rows = len({p.line for p in problems})
        super().__init__(
            f"Nothing was imported: {len(problems)} problem{'s' if len(problems) != 1 else ''} "
            f"in {rows} row{'s' if rows != 1 else ''}."
        )
        self.problems = problems


# --- Body (HTML) <-> the plain-text description ----------------------------------------------------

_BLOCKS = {
    "p",
    "div",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "li",
    "ul",
    "ol",
    "blockquote",
    "tr",
    "table",
    "section",
}


class _TextOf(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag in _BLOCKS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(re.sub(r"\s+", " ", data))  # HTML whitespace collapses


def description_from_html(body: str) -> str:
    """What the product page shows (paragraphs of text); tags and scripts dropped, entities decoded."""
    parser = _TextOf()
    parser.feed(body)
    parser.close()
    return normalise("".join(parser.parts))


def normalise(text: str) -> str:
    paragraphs = re.split(r"\n\s*\n", text.replace("\r\n", "\n").replace("\r", "\n"))
    cleaned = []
    for para in paragraphs:
        lines = [" ".join(line.split()) for line in para.split("\n")]
        joined = "\n".join(line for line in lines if line)
        if joined:
            cleaned.append(joined)
    return "\n\n".join(cleaned)


def description_to_html(text: str) -> str:
    paragraphs = normalise(text).split("\n\n")
    return "".join(
        "<p>" + "<br>".join(html.escape(line, quote=False) for line in p.split("\n")) + "</p>"
        for p in paragraphs
        if p
    )


# --- export -----------------------------------------------------------------------------------------


def _pounds(pence: int) -> str:
    return f"{Money(pence).to_major():.2f}"


def _product_rows(
    product: Product,
    collection: Collection | None,
    variants: list[Variant],
    images: list[ProductImage],
    tags: list[str],
    base_url: str,
) -> Iterator[list[str]]:
    on_sale = [v for v in variants if v.is_available]
    for i in range(max(1, len(on_sale), len(images))):
        row = dict.fromkeys(COLUMNS, "")
        row["Handle"] = product.slug
        if i == 0:
            row.update(
                {
                    "Title": product.title,
                    "Body (HTML)": description_to_html(product.description),
                    "Type": collection.slug if collection else "",
                    "Tags": ", ".join(tags),
                    "Published": "TRUE" if product.is_published else "FALSE",
                    "Option1 Name": "Size",
                    "Option2 Name": "Colour",
                    "Status": "active" if product.is_published else "draft",
                }
            )
        if i < len(on_sale):
            v = on_sale[i]
            row.update(
                {
                    "Option1 Value": str(v.options.get("size", "")),
                    "Option2 Value": str(v.options.get("colour", "")),
                    "Variant SKU": v.sku,
                    "Variant Price": _pounds(v.price_for(product).amount),
                    "Cost per item": _pounds(v.provider_cost),
                    "Provider Variant ID": ""
                    if v.provider_variant_id is None
                    else str(v.provider_variant_id),
                    "Print File URL": v.print_file_url,
                }
            )
        if i < len(images):
            image = images[i]
            row.update(
                {
                    "Image Src": base_url.rstrip("/") + image_url(image.image_key, 1200),
                    "Image Position": str(i + 1),
                    "Image Alt Text": image.alt,
                }
            )
        yield [row[c] for c in COLUMNS]


def export_chunks(*, base_url: str, batch: int = EXPORT_BATCH) -> Iterator[str]:
    """The whole catalogue as CSV text, a batch of products at a time (each its own read)."""
    yield BOM + rows_text([COLUMNS])
    after = 0
    while True:
        with unit_of_work(write=False) as session:
            products = list(repository.products_after(session, after_id=after, limit=batch))
            if not products:
                return
            ids = [p.id for p in products if p.id is not None]
            variants = repository.variants_for(session, ids)
            images = repository.images_for(session, ids)
            tags = repository.tags_by_product(session, ids)
            collections = repository.collections_by_id(session)
        rows: list[list[str]] = []
        for p in products:
            assert p.id is not None
            rows += _product_rows(
                p,
                collections.get(p.collection_id),
                variants.get(p.id, []),
                images.get(p.id, []),
                tags.get(p.id, []),
                base_url,
            )
        yield rows_text(rows)
        after = products[-1].id or after


def export_file(path: Path, *, base_url: str) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        for chunk in export_chunks(base_url=base_url):
            out.write(chunk)


# --- import: reading the file -------------------------------------------------------------------------


@dataclass
class Row:
    line: int
    cells: dict[str, str]

    def get(self, column: str) -> str:
        return self.cells.get(column, "")

    @property
    def has_variant(self) -> bool:
        return any(self.get(c) for c in VARIANT_COLUMNS)


def read_rows(data: bytes) -> tuple[list[Row], set[str], list[Problem]]:
    """(rows, columns present, problems): cells stripped and our formula guard taken off."""
    if len(data) > MAX_FILE_BYTES:
        return [], set(), [Problem(1, "file", "The file is larger than 20 MB; split it into smaller files.")]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return [], set(), [Problem(1, "file", "Save the file as CSV UTF-8 (Shopify's export is).")]
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        return [], set(), [Problem(1, "file", "The file is empty.")]
    except csv.Error as exc:
        return [], set(), [Problem(1, "file", f"This is not a CSV file we can read ({exc}).")]
    problems: list[Problem] = []
    if "Handle" not in header:
        problems.append(Problem(1, "Handle", "The first row must name the columns, with a Handle column."))
    doubled = sorted({h for h in header if h and header.count(h) > 1})
    for name in doubled:
        problems.append(Problem(1, name, "This column appears twice."))
    if problems:
        return [], set(header), problems
    known = [(i, h) for i, h in enumerate(header) if h in COLUMNS]
    rows: list[Row] = []
    line = reader.line_num + 1
    try:
        for record in reader:
            if any(cell.strip() for cell in record):
                cells = {h: plain_cell(record[i].strip()) if i < len(record) else "" for i, h in known}
                rows.append(Row(line, cells))
            line = reader.line_num + 1
    except csv.Error as exc:
        problems.append(Problem(line, "file", f"The row cannot be read as CSV ({exc})."))
    return rows, {h for _, h in known}, problems


# --- import: checking against the catalogue ------------------------------------------------------


@dataclass
class VariantPlan:
    line: int
    options: dict[str, str]
    sku: str
    price: int | None
    cost: int | None
    provider_variant_id: int | None
    print_file_url: str | None


@dataclass
class ImagePlan:
    line: int
    src: str
    alt: str  # the Image Alt Text, or the product's title when that is empty
    alt_given: bool
    position: int | None
    key: str | None = None  # ours already, or once fetched


@dataclass
class ProductPlan:
    handle: str
    line: int
    title: str | None = None
    description: str | None = None
    collection_id: int | None = None
    tags: list[str] | None = None
    published: bool | None = None
    variants: list[VariantPlan] = field(default_factory=list)
    images: list[ImagePlan] = field(default_factory=list)


def _truth(value: str) -> bool | None:
    lowered = value.lower()
    if lowered in ("true", "yes", "1"):
        return True
    if lowered in ("false", "no", "0"):
        return False
    return None


def _money(value: str, *, allow_zero: bool) -> int | None:
    amount = Money.from_major(value).amount  # ValueError with the form's own words
    if amount > MAX_PRICE_PENCE or amount < 0 or (amount == 0 and not allow_zero):
        raise ValueError("Enter an amount in pounds between 0.01 and 10000, like 25.00")
    return amount


def _group(rows: list[Row], problems: list[Problem]) -> dict[str, list[Row]]:
    groups: dict[str, list[Row]] = {}
    for row in rows:
        handle = row.get("Handle").lower()
        if not handle:
            problems.append(Problem(row.line, "Handle", "Every row needs the product's Handle."))
            continue
        groups.setdefault(handle, []).append(row)
    return groups


def _plan_product(
    handle: str,
    rows: list[Row],
    columns: set[str],
    existing: Product | None,
    collections: dict[str, Collection],
    problems: list[Problem],
) -> ProductPlan:
    first = rows[0]
    plan = ProductPlan(handle=handle, line=first.line)

    def problem(row: Row, column: str, message: str) -> None:
        problems.append(Problem(row.line, column, message))

    if not SLUG_RE.match(handle) or len(handle) > 150:
        problem(first, "Handle", "Use lower-case letters, numbers and hyphens only (at most 150).")
    title = first.get("Title")
    if title:
        if len(title) > 200:
            problem(first, "Title", "Keep the title under 200 characters.")
        plan.title = title
    elif existing is None:
        problem(first, "Title", "The first row of a new product needs its Title.")
    if "Body (HTML)" in columns:
        plan.description = description_from_html(first.get("Body (HTML)"))
        if len(plan.description) > 20_000:
            problem(first, "Body (HTML)", "Keep the description under 20,000 characters.")
    kind = first.get("Type")
    if kind:
        found = collections.get(kind.lower())
        if found is None:
            choices = " or ".join(sorted({c.slug for c in collections.values()}))
            problem(first, "Type", f"“{kind}” is not one of our collections: use {choices}.")
        else:
            plan.collection_id = found.id
    elif existing is None:
        problem(first, "Type", "Give the collection (t-shirts or cushions) of a new product.")
    if "Tags" in columns:
        plan.tags = sorted({slugify(t)[:60] for t in parse_list(first.get("Tags")) if slugify(t)})
    if "Published" in columns or "Status" in columns:
        published = _truth(first.get("Published")) if first.get("Published") else True
        if published is None:
            problem(first, "Published", "Use TRUE or FALSE.")
        status = first.get("Status").lower()
        if status not in ("", "active", "draft", "archived"):
            problem(first, "Status", "Use active, draft or archived.")
        plan.published = bool(published) and status in ("", "active")
    names = [first.get("Option1 Name").lower(), first.get("Option2 Name").lower()]
    keys = [OPTION_NAMES.get(n) for n in names]
    variant_rows = [r for r in rows if r.has_variant]
    if variant_rows and sorted(k or "" for k in keys) != ["colour", "size"]:
        for i, key in enumerate(keys, start=1):
            if key is None or keys.count(key) > 1:
                problem(
                    first, f"Option{i} Name", "Name the two options Size and Colour (our products have both)."
                )
    seen: set[tuple[str, str]] = set()
    for row in variant_rows:
        options: dict[str, str] = {}
        for i, key in enumerate(keys, start=1):
            value = " ".join(row.get(f"Option{i} Value").split())
            if not value:
                problem(row, f"Option{i} Value", "Give this variant's value.")
            elif len(value) > 40:
                problem(row, f"Option{i} Value", "Keep it under 40 characters.")
            if key:
                options[key] = value
        combo = (options.get("size", "").lower(), options.get("colour", "").lower())
        if all(combo) and combo in seen:
            problem(row, "Option1 Value", "This size and colour are already on an earlier row.")
        seen.add(combo)
        sku = row.get("Variant SKU")
        if len(sku) > 64:
            problem(row, "Variant SKU", "Keep the SKU under 64 characters.")
        price = cost = pvid = None
        if row.get("Variant Price"):
            try:
                price = _money(row.get("Variant Price"), allow_zero=False)
            except ValueError as exc:
                problem(row, "Variant Price", str(exc))
        if row.get("Cost per item"):
            try:
                cost = _money(row.get("Cost per item"), allow_zero=True)
            except ValueError as exc:
                problem(row, "Cost per item", str(exc))
        raw_pvid = row.get("Provider Variant ID")
        if raw_pvid:
            if raw_pvid.isdigit() and len(raw_pvid) < 12:
                pvid = int(raw_pvid)
            else:
                problem(row, "Provider Variant ID", "The provider's variant id is a number.")
        url = row.get("Print File URL") or None
        if url and not url.startswith("https://"):
            problem(row, "Print File URL", "The print file address must start with https://")
        plan.variants.append(VariantPlan(row.line, options, sku, price, cost, pvid, url))
    if existing is None:
        if not plan.variants:
            problem(first, "Option1 Value", "A new product needs at least one variant (a size and a colour).")
        elif not any(r.get("Variant Price") for r in variant_rows):
            problem(first, "Variant Price", "Give a new product's price.")
    for row in rows:
        src = row.get("Image Src")
        if not src:
            continue
        position = None
        if row.get("Image Position"):
            if row.get("Image Position").isdigit() and int(row.get("Image Position")) >= 1:
                position = int(row.get("Image Position"))
            else:
                problem(row, "Image Position", "Use a whole number, 1 for the main picture.")
        alt = row.get("Image Alt Text") or (plan.title or (existing.title if existing else ""))
        if len(alt) > 300:
            problem(row, "Image Alt Text", "Keep it under 300 characters.")
        plan.images.append(
            ImagePlan(row.line, src, alt, bool(row.get("Image Alt Text")), position, key=_our_picture(src))
        )
    return plan


def _our_picture(src: str) -> str | None:
    """The key of a picture this shop already has (from its own export), or None."""
    match = MEDIA_URL_RE.search(src.split("?", 1)[0])
    if match and (media_dir() / f"{match.group(1)}-1200.webp").exists():
        return match.group(1)
    return None


def plan_import(
    session: Session, rows: list[Row], columns: set[str], problems: list[Problem]
) -> list[ProductPlan]:
    """Check every row against the catalogue as it is now (reads only)."""
    groups = _group(rows, problems)
    existing = repository.products_by_slugs(session, list(groups))
    collections: dict[str, Collection] = {}
    for c in repository.collections(session):
        collections[c.slug.lower()] = c
        collections[c.title.lower()] = c
    plans = [
        _plan_product(h, group, columns, existing.get(h), collections, problems)
        for h, group in groups.items()
    ]
    # A SKU names one variant: not twice in the file, and not one that belongs to another product.
    skus = [v.sku for p in plans for v in p.variants if v.sku]
    owners = repository.variants_by_skus(session, skus)
    ids_to_handle = {p.id: slug for slug, p in existing.items()}
    seen: dict[str, int] = {}
    for plan in plans:
        for v in plan.variants:
            if not v.sku:
                continue
            if v.sku in seen:
                problems.append(Problem(v.line, "Variant SKU", f"{v.sku} is already on line {seen[v.sku]}."))
            seen.setdefault(v.sku, v.line)
            owner = owners.get(v.sku)
            if owner is not None and ids_to_handle.get(owner.product_id) != plan.handle:
                problems.append(
                    Problem(v.line, "Variant SKU", f"{v.sku} already belongs to another product.")
                )
    problems.sort(key=lambda p: (p.line, COLUMNS.index(p.column) if p.column in COLUMNS else -1))
    return plans


def fetch_pictures(
    plans: list[ProductPlan], problems: list[Problem], progress: Progress | None = None
) -> int:
    """Fetch and store the pictures the file links to (outside any transaction). Returns how many."""
    wanted = [i for p in plans for i in p.images if i.key is None]
    by_url: dict[str, str | Problem] = {}
    for done, image in enumerate(wanted, start=1):
        if image.src not in by_url:
            try:
                by_url[image.src] = store_image(fetch_image(image.src), field="Image Src").key
            except ImageRejected as exc:
                by_url[image.src] = Problem(image.line, "Image Src", exc.message)
        outcome = by_url[image.src]
        if isinstance(outcome, Problem):
            problems.append(Problem(image.line, "Image Src", outcome.message))
        else:
            image.key = outcome
        if progress:
            progress("fetching pictures", done, len(wanted))
    return len(by_url)


# --- import: writing (only what differs) ------------------------------------------------------------


def _set(obj: Any, name: str, value: Any) -> bool:
    if getattr(obj, name) == value:
        return False
    setattr(obj, name, value)
    return True


def write_plans(
    session: Session, plans: list[ProductPlan], report: Report, progress: Progress | None = None
) -> None:
    existing = repository.products_by_slugs(session, [p.handle for p in plans])
    ids = [p.id for p in existing.values() if p.id is not None]
    variants: dict[int, list[Variant]] = {}
    images: dict[int, list[ProductImage]] = {}
    tags: dict[int, list[str]] = {}
    for part in repository._chunks(ids):
        variants.update(repository.variants_for(session, part))
        images.update(repository.images_for(session, part))
        tags.update(repository.tags_by_product(session, part))
    position = repository.max_position(session)
    taken: set[str] = set()
    now = utcnow()
    for done, plan in enumerate(plans, start=1):
        product = existing.get(plan.handle)
        created = product is None
        if product is None:
            first_price = next(v.price for v in plan.variants if v.price is not None)
            position += 1
            assert plan.collection_id is not None and plan.title is not None
            product = Product(
                slug=plan.handle,
                title=plan.title,
                collection_id=plan.collection_id,
                price=first_price,
                position=position,
                created_at=now,
                updated_at=now,
            )
            session.add(product)
            session.flush()
        assert product.id is not None
        changed = False
        if plan.title is not None:
            changed |= _set(product, "title", plan.title)
        if plan.description is not None and normalise(product.description) != plan.description:
            changed |= _set(product, "description", plan.description)
        if plan.collection_id is not None:
            changed |= _set(product, "collection_id", plan.collection_id)
        if plan.published is not None:
            changed |= _set(product, "is_published", plan.published)
        if plan.tags is not None and sorted(tags.get(product.id, [])) != plan.tags:
            repository_tags = tags.get(product.id, [])
            for tag in set(repository_tags) - set(plan.tags):
                row = session.get(ProductTag, (product.id, tag))
                if row is not None:
                    session.delete(row)
            for tag in set(plan.tags) - set(repository_tags):
                session.add(ProductTag(product_id=product.id, tag=tag))
            changed = True
        changed |= _write_variants(session, product, plan, variants.get(product.id, []), taken, report)
        changed |= _write_images(session, product, plan, images.get(product.id, []), report)
        if created:
            report.products_created += 1
        elif changed:
            product.updated_at = now
            report.products_updated += 1
        else:
            report.products_unchanged += 1
        if progress:
            progress("writing", done, len(plans))
    session.flush()


def _write_variants(
    session: Session,
    product: Product,
    plan: ProductPlan,
    current: list[Variant],
    taken: set[str],
    report: Report,
) -> bool:
    assert product.id is not None
    by_sku = {v.sku: v for v in current}
    by_combo = {(v.options.get("size", "").lower(), v.options.get("colour", "").lower()): v for v in current}
    next_position = max((v.position for v in current), default=-1) + 1
    changed = False
    for vp in plan.variants:
        combo = (vp.options.get("size", "").lower(), vp.options.get("colour", "").lower())
        variant = by_sku.get(vp.sku) if vp.sku else by_combo.get(combo)
        new = variant is None
        if variant is None:
            sku = vp.sku or make_sku(
                session, slug=product.slug, size=vp.options["size"], colour=vp.options["colour"], taken=taken
            )
            variant = Variant(
                product_id=product.id, sku=sku, options=dict(vp.options), position=next_position
            )
            next_position += 1
            session.add(variant)
        touched = False
        if not new and {k.lower(): v for k, v in variant.options.items()} != vp.options:
            variant.options = dict(vp.options)
            touched = True
        if vp.price is not None and variant.price_for(product).amount != vp.price:
            variant.price_override = None if vp.price == product.price else vp.price
            touched = True
        if vp.cost is not None:
            touched |= _set(variant, "provider_cost", vp.cost)
        if vp.provider_variant_id is not None:
            touched |= _set(variant, "provider_variant_id", vp.provider_variant_id)
        if vp.print_file_url is not None:
            touched |= _set(variant, "print_file_url", vp.print_file_url)
        touched |= _set(variant, "is_available", True)
        if new:
            report.variants_created += 1
        elif touched:
            report.variants_updated += 1
        changed |= new or touched
    return changed


def _write_images(
    session: Session, product: Product, plan: ProductPlan, current: list[ProductImage], report: Report
) -> bool:
    assert product.id is not None
    by_key = {i.image_key: i for i in current}
    next_position = max((i.position for i in current), default=-1) + 1
    changed = False
    # New pictures go after the ones the product has, in the file's Image Position order.
    for ip in sorted(plan.images, key=lambda i: (i.position or 10_000, i.line)):
        assert ip.key is not None
        image = by_key.get(ip.key)
        if image is None:
            image = ProductImage(
                product_id=product.id, image_key=ip.key, alt=ip.alt[:300], position=next_position
            )
            next_position += 1
            session.add(image)
            by_key[ip.key] = image
            report.images_added += 1
            changed = True
        elif ip.alt_given:
            changed |= _set(image, "alt", ip.alt[:300])
    return changed


# --- import: the whole thing -------------------------------------------------------------------------


def import_csv(data: bytes, *, progress: Progress | None = None) -> Report:
    """Check, fetch pictures, then write everything in one transaction, or nothing (ImportRefused)."""
    rows, columns, problems = read_rows(data)
    if problems:
        raise ImportRefused(problems)
    with unit_of_work(write=False) as session:
        plans = plan_import(session, rows, columns, problems)
    if problems:
        raise ImportRefused(problems)
    fetch_pictures(plans, problems, progress)
    if problems:
        raise ImportRefused(problems)
    report = Report()
    with unit_of_work(write=True) as session:
        # Checked again inside the transaction: the catalogue may have changed since the first look.
        fresh = plan_import(session, rows, columns, problems)
        if problems:
            raise ImportRefused(problems)
        keys = {(p.handle, i.line): i.key for p in plans for i in p.images}
        for plan in fresh:
            for image in plan.images:
                image.key = image.key or keys.get((plan.handle, image.line))
        write_plans(session, fresh, report, progress)
    return report


def problems_text(problems: Sequence[Problem]) -> list[str]:
    return [str(p) for p in problems]
