"""Issue 15.4: a refused "Add to cart" shows the product's form again, not the cart.

CONTRACT (form conventions): 422, the same form re-rendered (the product page with Size, Colour and
Quantity), the values kept, the error next to its field, and the cart unchanged.
"""

from __future__ import annotations

from typing import Any

import pytest
from bs4 import BeautifulSoup, Tag

from tests.conftest import csrf_from, soup
from tests.factories import add, make_product, sku_of
from tests.store.cart.test_cart import cart_lines

QUANTITY_MESSAGE = "Choose a quantity from 1 to 20."
CHOOSE_SIZE = "Choose a size from the list."
CHOOSE_COLOUR = "Choose a colour from the list."


@pytest.fixture
def shirt(client, db) -> Any:  # type: ignore[no-untyped-def]
    """A shirt (S, M, L × Black, White) and a cart that already holds one other item (2 cushions)."""
    product = make_product(db, "No War t-shirt", price="25.00", sizes="S, M, L", colours="Black, White")
    cushion = make_product(
        db, "Peace cushion", collection="cushions", price="30.00", sizes="One size", colours="Red"
    )
    assert add(client, sku_of(db, cushion, "One size", "Red"), 2).status_code == 303
    return product


def post_add(client, product_slug: str, **fields: str) -> Any:  # type: ignore[no-untyped-def]
    token = csrf_from(client.get(f"/shop/{product_slug}").text)
    data = {"csrf_token": token, "product": product_slug, "size": "M", "colour": "Black", "quantity": "1"}
    data.update(fields)
    return client.post("/cart/add", data=data, follow_redirects=False)


def control(form: Tag, label: str) -> Tag:
    """The form control a label names (label[for] → id)."""
    found = form.find("label", string=label)
    assert found is not None, f"no label {label!r}"
    field = form.find(id=found["for"])
    assert field is not None
    return field


def error_beside(form: Tag, label: str) -> str | None:
    """The error message the control named `label` is described by, if it sits in the same field."""
    field = control(form, label)
    described = field.get("aria-describedby")
    if not described or field.get("aria-invalid") != "true":
        return None
    error = form.find(id=described)
    assert error is not None and error.find_parent(class_="field") is field.find_parent(class_="field")
    return error.get_text(strip=True)


def the_form(page: BeautifulSoup) -> Tag:
    form = page.select_one("form[action='/cart/add']")
    assert form is not None, "no add-to-cart form on the page"
    return form


def assert_cart_unchanged(client, db) -> None:  # type: ignore[no-untyped-def]
    assert [(ln.sku.endswith("RED-ONE-SIZE"), ln.quantity) for ln in cart_lines(db)] == [(True, 2)]
    assert soup(client.get("/cart").text).select_one(".cart-count").get_text() == "2"


@pytest.mark.parametrize("quantity", ["0", "-1", "1000000000", "abc", "1.5", ""])
def test_refused_quantity_shows_the_product_form_with_the_error_beside_quantity(
    client, db, shirt, quantity
) -> None:  # type: ignore[no-untyped-def]
    response = post_add(client, shirt.slug, size="L", colour="White", quantity=quantity)

    assert response.status_code == 422
    page = soup(response.text)
    assert page.find("h1").get_text(strip=True) == "No War t-shirt"  # the product page, not "Your cart"
    form = the_form(page)
    assert form.find("input", attrs={"name": "product"})["value"] == shirt.slug
    # the values kept
    assert control(form, "Quantity")["value"] == quantity
    assert control(form, "Size").find("option", selected=True)["value"] == "L"
    assert control(form, "Colour").find("option", selected=True)["value"] == "White"
    # the error next to its field, and only there
    assert error_beside(form, "Quantity") == QUANTITY_MESSAGE
    assert (error_beside(form, "Size"), error_beside(form, "Colour")) == (None, None)
    assert_cart_unchanged(client, db)


@pytest.mark.parametrize(
    ("fields", "label", "message"),
    [
        ({"size": "XXXL"}, "Size", CHOOSE_SIZE),
        ({"size": ""}, "Size", CHOOSE_SIZE),
        ({"colour": "Tartan"}, "Colour", CHOOSE_COLOUR),
        ({"colour": ""}, "Colour", CHOOSE_COLOUR),
    ],
)
def test_unknown_size_or_colour_shows_the_form_with_the_error_beside_that_field(
    client, db, shirt, fields, label, message
) -> None:  # type: ignore[no-untyped-def]
    response = post_add(client, shirt.slug, quantity="3", **fields)

    assert response.status_code == 422
    page = soup(response.text)
    assert page.find("h1").get_text(strip=True) == "No War t-shirt"
    form = the_form(page)
    assert error_beside(form, label) == message
    other = "Colour" if label == "Size" else "Size"
    assert (error_beside(form, other), error_beside(form, "Quantity")) == (None, None)
    assert control(form, "Quantity")["value"] == "3"  # kept
    # the other choice is kept too
    kept = control(form, other).find("option", selected=True)["value"]
    assert kept == ("Black" if other == "Colour" else "M")
    assert_cart_unchanged(client, db)


def test_both_a_bad_quantity_and_an_unknown_colour_are_each_shown_by_their_field(client, db, shirt) -> None:  # type: ignore[no-untyped-def]
    response = post_add(client, shirt.slug, colour="Tartan", quantity="0")
    assert response.status_code == 422
    form = the_form(soup(response.text))
    assert (error_beside(form, "Colour"), error_beside(form, "Quantity")) == (CHOOSE_COLOUR, QUANTITY_MESSAGE)
    assert_cart_unchanged(client, db)


def test_more_than_twenty_in_the_cart_shows_the_form_with_the_error_beside_quantity(
    client, db, shirt
) -> None:  # type: ignore[no-untyped-def]
    assert post_add(client, shirt.slug, quantity="15").status_code == 303
    response = post_add(client, shirt.slug, quantity="6")
    assert response.status_code == 422
    form = the_form(soup(response.text))
    assert (
        error_beside(form, "Quantity")
        == "You already have 15 of these in your cart; the most per item is 20."
    )
    assert control(form, "Quantity")["value"] == "6"
    assert sorted(ln.quantity for ln in cart_lines(db)) == [2, 15]


def test_a_good_add_after_a_refused_one_still_goes_to_the_cart(client, db, shirt) -> None:  # type: ignore[no-untyped-def]
    assert post_add(client, shirt.slug, quantity="abc").status_code == 422
    ok = post_add(client, shirt.slug, quantity="2")
    assert (ok.status_code, ok.headers["location"]) == (303, "/cart")
    assert sorted(ln.quantity for ln in cart_lines(db)) == [2, 2]
