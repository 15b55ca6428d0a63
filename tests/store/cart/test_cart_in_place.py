"""The cart in place (issue 12): htmx posts get the cart's fragment and the header's count out of band;
the same forms without JavaScript still answer 303 to /cart."""

from __future__ import annotations

import pytest

from tests.conftest import csrf_from, soup
from tests.factories import add, make_product, sku_of
from tests.store.cart.test_cart import cart_lines

HX = {"HX-Request": "true"}


@pytest.fixture
def two_lines(client, db):  # type: ignore[no-untyped-def]
    """A £25.00 shirt × 2 and a £30.00 cushion × 1 in the cart: £80.00 + £3.99 UK delivery."""
    shirt = make_product(db, "No War t-shirt", price="25.00", colours="Black")
    cushion = make_product(
        db, "Peace cushion", collection="cushions", price="30.00", sizes="One size", colours="Red"
    )
    add(client, sku_of(db, shirt), 2)
    add(client, sku_of(db, cushion, "One size", "Red"), 1)
    return cart_lines(db)


def _token(client) -> str:  # type: ignore[no-untyped-def]
    return csrf_from(client.get("/cart").text)


def test_quantity_change_answers_the_fragment_with_new_totals_and_count(client, db, two_lines) -> None:  # type: ignore[no-untyped-def]
    shirt = two_lines[0]
    r = client.post(
        f"/cart/lines/{shirt.id}", data={"csrf_token": _token(client), "quantity": "4"}, headers=HX
    )
    assert r.status_code == 200
    page = soup(r.text)
    # a fragment, not a page: no <html>, no site header
    assert page.find("html") is None and page.select_one(".site-header") is None
    assert page.find("h1").get_text() == "Your cart"
    assert page.select_one('[data-amount="subtotal"]').get_text() == "£130.00"
    assert page.select_one('[data-amount="total"]')["data-pence"] == str(13000 + 399)
    assert page.select_one(f"#qty-{shirt.id}")["value"] == "4"
    count = page.select_one("#cart-count")
    assert count["hx-swap-oob"] == "true"
    assert count.get_text() == "5"
    assert page.select_one('[role="status"]').get_text() == "Quantity updated."
    assert [ln.quantity for ln in cart_lines(db)] == [4, 1]
    # the cookie carries the new count, so the next full page's header agrees
    assert soup(client.get("/").text).select_one(".cart-count").get_text() == "5"


def test_removal_answers_the_fragment_without_the_line(client, db, two_lines) -> None:  # type: ignore[no-untyped-def]
    shirt, cushion = two_lines
    r = client.post(f"/cart/lines/{shirt.id}/remove", data={"csrf_token": _token(client)}, headers=HX)
    assert r.status_code == 200
    page = soup(r.text)
    assert page.select_one(f"#qty-{shirt.id}") is None
    assert page.select_one(f"#qty-{cushion.id}")["value"] == "1"
    assert page.select_one('[data-amount="subtotal"]').get_text() == "£30.00"
    assert page.select_one("#cart-count").get_text() == "1"
    assert page.select_one('[role="status"]').get_text() == "Removed from your cart."
    # and the last one: the empty cart, count 0
    r = client.post(f"/cart/lines/{cushion.id}/remove", data={"csrf_token": _token(client)}, headers=HX)
    page = soup(r.text)
    assert page.select_one(".empty-cart") is not None
    assert page.select_one("#cart-count").get_text() == "0"
    assert cart_lines(db) == []


@pytest.mark.parametrize("bad", ["0", "21", "abc", "", "-1", "1.5"])
def test_refused_quantity_is_a_422_fragment_with_the_error_beside_that_line(
    client, db, two_lines, bad: str
) -> None:  # type: ignore[no-untyped-def]
    shirt, cushion = two_lines
    r = client.post(
        f"/cart/lines/{shirt.id}", data={"csrf_token": _token(client), "quantity": bad}, headers=HX
    )
    assert r.status_code == 422
    page = soup(r.text)
    assert page.find("html") is None
    field = page.select_one(f"#qty-{shirt.id}")
    error = page.select_one(f"#qty-{shirt.id}-error")
    assert error.get_text() == "Choose a quantity from 1 to 20."
    assert field["aria-describedby"] == f"qty-{shirt.id}-error"
    assert error.find_parent("form") is field.find_parent("form")  # next to that line's field
    assert page.select_one(f"#qty-{cushion.id}-error") is None
    assert page.select_one("#cart-count").get_text() == "3"  # unchanged
    assert page.select_one('[data-amount="subtotal"]').get_text() == "£80.00"
    assert [ln.quantity for ln in cart_lines(db)] == [2, 1]


def test_without_javascript_the_same_forms_still_redirect(client, db, two_lines) -> None:  # type: ignore[no-untyped-def]
    shirt = two_lines[0]
    page = soup(client.get("/cart").text)
    form = page.select_one(f"#qty-{shirt.id}").find_parent("form")
    # the forms work as plain HTML (method and action) and for htmx (hx-post to the same address)
    action = f"/cart/lines/{shirt.id}"
    assert (form["method"], form["action"], form["hx-post"]) == ("post", action, action)
    token = form.find("input", attrs={"name": "csrf_token"})["value"]
    r = client.post(action, data={"csrf_token": token, "quantity": "3"}, follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/cart")
    assert soup(client.get("/cart").text).select_one(".cart-count").get_text() == "4"
    # the full page carries no out-of-band copy of the count (only the header's)
    assert len(soup(client.get("/cart").text).select("#cart-count")) == 1


def test_expired_cart_answers_a_fragment_saying_so(client, db, two_lines) -> None:  # type: ignore[no-untyped-def]
    token = _token(client)
    client.cookies.delete("rrm_cart")
    r = client.post(f"/cart/lines/{two_lines[0].id}", data={"csrf_token": token, "quantity": "2"}, headers=HX)
    assert r.status_code == 200
    page = soup(r.text)
    assert "expired" in page.select_one('[role="status"]').get_text()
    assert page.select_one(".empty-cart") is not None
    assert page.select_one("#cart-count").get_text() == "0"
