"""The staff catalogue desk: roles, the product form, variants, photos, publishing, order."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from bs4 import BeautifulSoup
from PIL import Image
from sqlmodel import func, select

from catalog import repository
from catalog.models import Product, ProductImage, Variant
from tests.conftest import csrf_from


def _png(size: int = 600, colour: tuple[int, int, int] = (180, 20, 20)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(out, "PNG")
    return out.getvalue()


def _huge_png(width: int, height: int) -> bytes:
    """A valid PNG header claiming width × height pixels, tiny on disk (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    row = b"\x00" + b"\x00" * width
    body = zlib.compress(row * 16, 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", body)
        + chunk(b"IEND", b"")
    )


def _form(**overrides: str) -> dict[str, str]:
    data = {
        "title": "Peace Now t-shirt",
        "slug": "",
        "description": "Organic cotton.",
        "collection": "t-shirts",
        "price": "25.00",
        "sizes": "S, M, L",
        "colours": "Black, Red",
        "tags": "anti-war",
        "published": "1",
        "alt": "",
    }
    data.update(overrides)
    return data


def _soup(response):  # type: ignore[no-untyped-def]
    return BeautifulSoup(response.text, "html.parser")


def _count(db, model) -> int:  # type: ignore[no-untyped-def]
    return db.exec(select(func.count()).select_from(model)).one()


@pytest.fixture
def catalogue_staff(client, login_as, db):  # type: ignore[no-untyped-def]
    from catalog.service import ensure_collections

    ensure_collections(db)
    db.commit()
    login_as("catalogue")
    return client


def _post_product(client, data, photo=None, path="/staff/catalogue/new"):  # type: ignore[no-untyped-def]
    token = csrf_from(client.get("/staff/catalogue/new").text)
    files = {"photo": ("shirt.png", photo, "image/png")} if photo is not None else None
    return client.post(path, data={**data, "csrf_token": token}, files=files, follow_redirects=False)


def test_staff_create_a_t_shirt_with_variants_and_a_photo(catalogue_staff, db):
    response = _post_product(catalogue_staff, _form(alt="A black t-shirt saying Peace Now"), _png())

    assert response.status_code == 303
    product = db.exec(select(Product).where(Product.slug == "peace-now-t-shirt")).one()
    assert response.headers["location"] == f"/staff/catalogue/{product.id}"
    assert (product.title, product.price, product.is_published) == ("Peace Now t-shirt", 2500, True)
    variants = repository.variants_for(db, [product.id])[product.id]
    assert [(v.sku, v.price_for(product).amount) for v in variants] == [
        ("RRM-PEACE-NOW-T-SHIRT-BLACK-S", 2500),
        ("RRM-PEACE-NOW-T-SHIRT-BLACK-M", 2500),
        ("RRM-PEACE-NOW-T-SHIRT-BLACK-L", 2500),
        ("RRM-PEACE-NOW-T-SHIRT-RED-S", 2500),
        ("RRM-PEACE-NOW-T-SHIRT-RED-M", 2500),
        ("RRM-PEACE-NOW-T-SHIRT-RED-L", 2500),
    ]
    [image] = db.exec(select(ProductImage)).all()
    assert image.alt == "A black t-shirt saying Peace Now"
    assert repository.tags_for(db, product.id) == ["anti-war"]
    page = _soup(catalogue_staff.get(response.headers["location"]))
    assert page.select_one(".flash").get_text(strip=True) == "Product saved."
    assert len(page.select("table.variants tbody tr")) == 6


def test_a_title_with_accents_gets_a_readable_slug_and_tags(catalogue_staff, db):
    response = _post_product(catalogue_staff, _form(title="São Paulo solidarity tee", tags="São Paulo, Greve geral"))

    assert response.status_code == 303
    product = db.exec(select(Product)).one()
    assert product.slug == "sao-paulo-solidarity-tee"
    assert repository.tags_for(db, product.id) == ["greve-geral", "sao-paulo"]
    db.rollback()
    page = _soup(catalogue_staff.get("/shop/sao-paulo-solidarity-tee"))
    assert page.h1.get_text(strip=True) == "São Paulo solidarity tee"


def test_the_form_uses_the_contract_labels(catalogue_staff):
    soup = _soup(catalogue_staff.get("/staff/catalogue/new"))
    form = soup.select_one("form.product-form")
    labels = {
        label.get_text(strip=True): form.find(id=label["for"]).get("name") for label in form.find_all("label")
    }
    assert labels == {
        "Title": "title",
        "Slug": "slug",
        "Description": "description",
        "Collection": "collection",
        "Price": "price",
        "Sizes": "sizes",
        "Colours": "colours",
        "Tags": "tags",
        "Published": "published",
        "Photo": "photo",
        "Alt text": "alt",
    }
    assert form.find("button").get_text(strip=True) == "Save"


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"title": ""}, "title", "Enter the product's title."),
        ({"price": "twenty"}, "price", "Enter a price in pounds between 0.01 and 10000, like 25.00."),
        ({"price": "-1"}, "price", "Enter a price in pounds between 0.01 and 10000, like 25.00."),
        ({"sizes": " , "}, "sizes", "Enter at least one size, separated by commas."),
        ({"colours": ""}, "colours", "Enter at least one colour, separated by commas."),
        ({"collection": "hats"}, "collection", "Choose a collection."),
        ({"slug": "Not A Slug!"}, "slug", "Use lower-case letters, numbers and hyphens only."),
    ],
)
def test_bad_input_re_renders_the_form_with_the_error_beside_its_field(
    catalogue_staff, db, overrides, field, message
):
    response = _post_product(catalogue_staff, _form(**overrides))

    assert response.status_code == 422
    soup = _soup(response)
    assert soup.select_one(f"#f-{field}-error").get_text(strip=True) == message
    assert soup.select_one("#f-description").get_text() == "Organic cotton."  # values kept
    assert _count(db, Product) == 0


def test_a_photo_needs_alt_text_and_nothing_is_saved_without_it(catalogue_staff, db):
    response = _post_product(catalogue_staff, _form(alt=""), _png())
    assert response.status_code == 422
    assert _soup(response).select_one("#f-alt-error").get_text(strip=True) == (
        "Describe the photo for people who can't see it."
    )
    assert _count(db, Product) == 0


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "random.png",
            bytes(range(256)) * 64,
            "That file isn't an image we can read. Upload a JPEG, PNG or WebP.",
        ),
        ("huge.png", _huge_png(20000, 20000), "That image has too many pixels (at most 40 megapixels)."),
        (
            "big.png",
            b"\x89PNG\r\n\x1a\n" + b"\x00" * (20 * 1024 * 1024),
            "That image is larger than 10 MB. Please upload a smaller one.",
        ),
        (
            "logo.svg",
            b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>',
            "That file isn't an image we can read. Upload a JPEG, PNG or WebP.",
        ),
    ],
    ids=["random-bytes", "20000x20000-png", "20-mb-file", "svg"],
)
def test_bad_uploads_are_refused_with_a_message_and_no_500(catalogue_staff, db, name, content, message):
    token = csrf_from(catalogue_staff.get("/staff/catalogue/new").text)
    response = catalogue_staff.post(
        "/staff/catalogue/new",
        data={**_form(alt="A shirt"), "csrf_token": token},
        files={"photo": (name, content, "image/png")},
        follow_redirects=False,
    )

    assert response.status_code == 422
    assert _soup(response).select_one("#f-photo-error").get_text(strip=True) == message
    assert _count(db, Product) == 0 and _count(db, ProductImage) == 0


def test_staff_edit_variants_in_bulk_and_see_margins(catalogue_staff, db):
    _post_product(catalogue_staff, _form(sizes="M, 3XL", colours="Black"))
    product = db.exec(select(Product)).one()
    m, big = repository.variants_for(db, [product.id])[product.id]
    page = catalogue_staff.get(f"/staff/catalogue/{product.id}")
    data = {
        "csrf_token": csrf_from(page.text),
        f"price_override-{m.id}": "",
        f"provider_cost-{m.id}": "11.50",
        f"available-{m.id}": "1",
        f"provider_variant_id-{m.id}": "4011",
        f"print_file_url-{m.id}": "https://files.example/p.png",
        f"price_override-{big.id}": "27.00",
        f"provider_cost-{big.id}": "13.00",
        f"provider_variant_id-{big.id}": "4017",
        f"print_file_url-{big.id}": "",
    }

    response = catalogue_staff.post(
        f"/staff/catalogue/{product.id}/variants", data=data, follow_redirects=False
    )

    assert response.status_code == 303
    db.rollback()
    m, big = db.get(Variant, m.id), db.get(Variant, big.id)
    assert (m.price_override, m.provider_cost, m.provider_variant_id, m.is_available) == (
        None,
        1150,
        4011,
        True,
    )
    assert (big.price_override, big.provider_cost, big.provider_variant_id, big.is_available) == (
        2700,
        1300,
        4017,
        False,
    )
    margins = [
        td.get_text(strip=True)
        for td in _soup(catalogue_staff.get(f"/staff/catalogue/{product.id}")).select(
            "table.variants tbody tr td:last-child"
        )
    ]
    # £25: 2500 − 417 VAT − 1150 − 58 fee = 875p; £27: 2700 − 450 − 1300 − 61 = 889p
    assert margins == ["£8.75", "£8.89"]


def test_bad_variant_edits_re_render_with_errors_and_save_nothing(catalogue_staff, db):
    _post_product(catalogue_staff, _form(sizes="M", colours="Black"))
    product = db.exec(select(Product)).one()
    [variant] = repository.variants_for(db, [product.id])[product.id]
    token = csrf_from(catalogue_staff.get(f"/staff/catalogue/{product.id}").text)

    response = catalogue_staff.post(
        f"/staff/catalogue/{product.id}/variants",
        data={
            "csrf_token": token,
            f"price_override-{variant.id}": "lots",
            f"provider_cost-{variant.id}": "9",
            f"available-{variant.id}": "1",
        },
    )

    assert response.status_code == 422
    soup = _soup(response)
    assert soup.select_one(f"#price_override-{variant.id}-error").get_text(strip=True) == (
        "Enter a price in pounds, like 27.00, or leave it empty."
    )
    assert soup.select_one(f"#price_override-{variant.id}")["value"] == "lots"
    db.rollback()
    assert db.get(Variant, variant.id).provider_cost == 0  # type: ignore[union-attr]


def test_publish_unpublish_reorder_and_search(catalogue_staff, db):
    _post_product(catalogue_staff, _form(title="First", published=""))
    _post_product(catalogue_staff, _form(title="Second", published="1"))
    first = db.exec(select(Product).where(Product.slug == "first")).one()
    token = csrf_from(catalogue_staff.get("/staff/catalogue").text)

    catalogue_staff.post(f"/staff/catalogue/{first.id}/publish", data={"csrf_token": token, "publish": "1"})
    assert [
        h.get_text(strip=True) for h in _soup(catalogue_staff.get("/shop")).select(".product-card h3")
    ] == ["First", "Second"]
    catalogue_staff.post(f"/staff/catalogue/{first.id}/move", data={"csrf_token": token, "direction": "down"})
    assert [
        h.get_text(strip=True) for h in _soup(catalogue_staff.get("/shop")).select(".product-card h3")
    ] == ["Second", "First"]
    catalogue_staff.post(f"/staff/catalogue/{first.id}/publish", data={"csrf_token": token, "publish": "0"})
    assert [
        h.get_text(strip=True) for h in _soup(catalogue_staff.get("/shop")).select(".product-card h3")
    ] == ["Second"]

    found = _soup(catalogue_staff.get("/staff/catalogue?q=seco"))
    assert [a.get_text(strip=True) for a in found.select("tbody td:first-child a")] == ["Second"]


def test_photos_can_be_added_per_colour_made_main_and_removed(catalogue_staff, db):
    _post_product(catalogue_staff, _form(alt="Front", colours="Black, Red"), _png(colour=(0, 0, 0)))
    product = db.exec(select(Product)).one()
    token = csrf_from(catalogue_staff.get(f"/staff/catalogue/{product.id}").text)

    response = catalogue_staff.post(
        f"/staff/catalogue/{product.id}/photos",
        data={"csrf_token": token, "photo_alt": "The red one", "photo_colour": "Red"},
        files={"extra_photo": ("red.png", _png(colour=(200, 0, 0)), "image/png")},
        follow_redirects=False,
    )
    assert response.status_code == 303
    db.rollback()
    front, red = db.exec(select(ProductImage).order_by(ProductImage.position)).all()
    assert (red.alt, red.colour) == ("The red one", "Red")
    catalogue_staff.post(f"/staff/catalogue/{product.id}/photos/{red.id}/main", data={"csrf_token": token})
    db.rollback()
    assert _soup(catalogue_staff.get("/shop")).select_one(".product-card img")["alt"] == "The red one"
    catalogue_staff.post(
        f"/staff/catalogue/{product.id}/photos/{front.id}/delete", data={"csrf_token": token}
    )
    db.rollback()
    assert [i.alt for i in db.exec(select(ProductImage)).all()] == ["The red one"]

    refused = catalogue_staff.post(
        f"/staff/catalogue/{product.id}/photos",
        data={"csrf_token": token, "photo_alt": "Logo"},
        files={"extra_photo": ("logo.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml")},
    )
    assert refused.status_code == 422
    assert _soup(refused).select_one("#f-extra_photo-error").get_text(strip=True) == (
        "That file isn't an image we can read. Upload a JPEG, PNG or WebP."
    )


@pytest.mark.parametrize("role", ["editor", "fulfilment"])
def test_staff_without_the_catalogue_role_are_refused_and_nothing_changes(
    client, db, login_as, make_staff, role
):
    from catalog.service import ProductForm, ensure_collections, save_product

    ensure_collections(db)
    product = save_product(
        db,
        form=ProductForm(
            title="Tee", collection="t-shirts", price="25.00", sizes="M", colours="Black", published=True
        ),
        product=None,
        photo_key=None,
    )
    db.commit()
    [variant] = repository.variants_for(db, [product.id])[product.id]
    login_as(role)
    token = csrf_from(client.get("/shop/tee").text)

    gets = [
        client.get(p) for p in ("/staff/catalogue", "/staff/catalogue/new", f"/staff/catalogue/{product.id}")
    ]
    posts = [
        client.post("/staff/catalogue/new", data={**_form(), "csrf_token": token}),
        client.post(f"/staff/catalogue/{product.id}", data={**_form(title="Hacked"), "csrf_token": token}),
        client.post(f"/staff/catalogue/{product.id}/publish", data={"csrf_token": token, "publish": "0"}),
        client.post(f"/staff/catalogue/{product.id}/move", data={"csrf_token": token, "direction": "down"}),
        client.post(
            f"/staff/catalogue/{product.id}/variants",
            data={"csrf_token": token, f"price_override-{variant.id}": "1.00"},
        ),
        client.post(
            f"/staff/catalogue/{product.id}/photos",
            data={"csrf_token": token, "photo_alt": "x"},
            files={"extra_photo": ("a.png", _png(), "image/png")},
        ),
    ]

    assert [r.status_code for r in gets] == [403, 403, 403]
    assert [r.status_code for r in posts] == [403] * 6
    db.rollback()
    fresh = db.get(Product, product.id)
    assert (fresh.title, fresh.is_published, _count(db, Product), _count(db, ProductImage)) == (
        "Tee",
        True,
        1,
        0,
    )
    assert db.get(Variant, variant.id).price_override is None  # type: ignore[union-attr]


def test_logged_out_visitors_are_sent_to_log_in(client):
    response = client.get("/staff/catalogue", follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (303, "/staff/login?next=/staff/catalogue")


def test_owner_may_use_the_catalogue_desk(client, login_as):
    login_as("owner")
    assert client.get("/staff/catalogue").status_code == 200
