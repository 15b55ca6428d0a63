"""Every form field drawn by templates/components/forms.html carries its extra attributes as real
attributes (not escaped text): money fields bring up the decimal keypad, counts the numeric one, and
photo uploads offer only the image types the shop accepts. Checked on the staff pages that show them."""

from __future__ import annotations

import pytest
from sqlmodel import select

from catalog.models import Product
from tests.conftest import soup
from tests.factories import make_paid_order, make_product

IMAGES = "image/jpeg,image/png,image/webp"


@pytest.fixture
def owner(client, login_as, db):  # type: ignore[no-untyped-def]
    login_as("owner")
    return client


def inputs(client, path: str):  # type: ignore[no-untyped-def]
    response = client.get(path)
    assert response.status_code == 200, response.text
    page = soup(response.text)
    # escaped attributes end up as junk attribute names like `inputmode=&#34;decimal&#34;`
    assert "&#34;" not in response.text
    return {i["name"]: i for i in page.select("form input[name]")}


def test_money_fields_and_counts_ask_for_the_right_keypad(owner, db):
    make_product(db)
    order = make_paid_order(db)
    product_id = db.exec(select(Product.id)).one()
    db.rollback()

    catalogue = inputs(owner, "/staff/catalogue/new")
    edit = inputs(owner, f"/staff/catalogue/{product_id}")
    discounts = inputs(owner, "/staff/discounts")
    shipping = inputs(owner, "/staff/shipping")
    funding = inputs(owner, "/staff/funding")
    refund = inputs(owner, f"/staff/orders/{order.number}")

    decimal = [catalogue["price"], edit["price"], discounts["amount_off"], discounts["min_spend"], refund["amount"]]
    decimal += [field for name, field in shipping.items() if name.startswith("rate_")]
    decimal += [field for field in funding.values() if field.get("type") == "text"]
    assert len(decimal) >= 8
    assert {(f["name"], f.get("inputmode")) for f in decimal} == {(f["name"], "decimal") for f in decimal}
    assert (discounts["percent_off"].get("inputmode"), discounts["usage_limit"].get("inputmode")) == (
        "numeric",
        "numeric",
    )


def test_photo_uploads_offer_only_the_image_types_we_take(owner, db):
    make_product(db)
    product_id = db.exec(select(Product.id)).one()
    db.rollback()

    new_product = inputs(owner, "/staff/catalogue/new")
    edit = inputs(owner, f"/staff/catalogue/{product_id}")
    article = inputs(owner, "/staff/articles/new")

    uploads = [new_product["photo"], edit["photo"], edit["extra_photo"], article["photo"]]
    assert [(f["type"], f.get("accept")) for f in uploads] == [("file", IMAGES)] * 4
