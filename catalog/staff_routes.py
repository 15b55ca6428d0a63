"""The staff catalogue desk (/staff/catalogue): products, their variants and photos, publishing and
the shop's order. Every change commits through the request's unit of work; the page cache and the
search index follow by themselves (catalog/models.py, migration 0009_shop)."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlmodel import Session
from starlette.datastructures import FormData
from starlette.datastructures import UploadFile as StarletteUploadFile

from catalog import repository, service
from catalog.models import Product, ProductImage, Variant
from catalog.params import page_number
from store.auth.models import Role, StaffUser
from store.deps import Db, require_role
from store.errors import DomainError, NotFound
from store.media import MAX_UPLOAD_BYTES, image_url, store_image
from store.web import FormDataDep, redirect, render, upload_bytes

log = logging.getLogger("store.catalog")

router = APIRouter()

STAFF_PAGE_SIZE = 50

Catalogue = Annotated[StaffUser, Depends(require_role(Role.catalogue))]


@router.get("/staff/catalogue", name="catalog.staff_list")
def staff_list(request: Request, db: Db, user: Catalogue, q: str = "", page: str | None = None) -> Response:
    number = page_number(page)
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
        variants, images = service.variants_and_images(db, product)
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
    variants, _ = service.variants_and_images(db, product)
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
