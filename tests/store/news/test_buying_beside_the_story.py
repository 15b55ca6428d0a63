"""Buying beside the story (issue 12): each product chosen for a story has its picker and "Add to cart"
on the story's page; adding keeps the reader on the story (303 back with a message, or in place with
htmx) and keeps the story → sale attribution. Refused input (15.4): the story again with the error
beside that product's form, 422, the values kept, the cart unchanged."""

from __future__ import annotations

from typing import Any

import pytest
from bs4 import BeautifulSoup, Tag
from fastapi.testclient import TestClient
from sqlmodel import select

from store.news.models import Article
from store.order.models import Order
from tests.conftest import soup
from tests.factories import checkout, make_product, make_story_with_products
from tests.store.cart.test_add_errors import control, error_beside
from tests.store.cart.test_cart import cart_lines

STORY = "/news/nurses-strike"
HX = {"HX-Request": "true"}


@pytest.fixture
def story(db) -> Article:  # type: ignore[no-untyped-def]
    """A story with two products chosen for it: a shirt (S, M, L × Black, White) and a cushion."""
    return make_story_with_products(db)


def buy_form(page: BeautifulSoup, title: str) -> Tag:
    form = page.find("form", attrs={"aria-label": f"Buy {title}"})
    assert form is not None, f"no form to buy {title}"
    return form


def fields_of(form: Tag, **changes: str) -> dict[str, str]:
    """What the browser would send: the hidden fields, the selected options, the quantity."""
    data = {i["name"]: i.get("value", "") for i in form.find_all("input") if i.get("name")}
    for select_ in form.find_all("select"):
        chosen = select_.find("option", selected=True)
        data[select_["name"]] = chosen["value"] if chosen else ""
    data.update(changes)
    return data


def header_count(client) -> str:  # type: ignore[no-untyped-def]
    return soup(client.get(STORY).text).select_one("header .cart-count").get_text()


def test_each_product_beside_the_story_has_its_picker_and_add_to_cart(client, story) -> None:  # type: ignore[no-untyped-def]
    page = soup(client.get(STORY).text)
    for title in ("Pay the nurses t-shirt", "Solidarity cushion"):
        form = buy_form(page, title)
        assert (form["method"], form["action"], form["hx-post"]) == ("post", "/cart/add", "/cart/add")
        for label in ("Size", "Colour", "Quantity"):
            assert control(form, label) is not None
        assert form.find("button", string="Add to cart") is not None
        hidden = fields_of(form)
        assert (hidden["from"], hidden["next"]) == ("nurses-strike", STORY)
    shirt = buy_form(page, "Pay the nurses t-shirt")
    assert [o["value"] for o in control(shirt, "Size").find_all("option")] == ["S", "M", "L"]
    assert [o["value"] for o in control(shirt, "Colour").find_all("option")] == ["Black", "White"]
    # ids stay apart with two pickers on one page
    ids = [tag["id"] for tag in page.find_all(id=True)]
    assert len(ids) == len(set(ids))


def test_without_javascript_adding_returns_to_the_story_with_a_message(client, db, story) -> None:  # type: ignore[no-untyped-def]
    form = buy_form(soup(client.get(STORY).text), "Pay the nurses t-shirt")
    r = client.post(
        "/cart/add", data=fields_of(form, size="L", colour="White", quantity="2"), follow_redirects=False
    )
    assert (r.status_code, r.headers["location"]) == (303, STORY)
    back = soup(client.get(STORY).text)
    assert (
        back.select_one(".flash").get_text()
        == "Added to your cart: Pay the nurses t-shirt, L / White (2 in total)."
    )
    assert back.select_one("header .cart-count").get_text() == "2"
    lines = cart_lines(db)
    assert [(ln.sku, ln.quantity, ln.article_id) for ln in lines] == [
        ("RRM-PAY-THE-NURSES-T-SHIRT-WHITE-L", 2, story.id)
    ]


def test_with_htmx_the_box_confirms_in_place_and_the_header_count_follows(client, db, story) -> None:  # type: ignore[no-untyped-def]
    form = buy_form(soup(client.get(STORY).text), "Solidarity cushion")
    r = client.post("/cart/add", data=fields_of(form), headers=HX)
    assert r.status_code == 200
    page = soup(r.text)
    assert page.find("html") is None and page.find("h1") is None  # a fragment: the box alone
    box = page.select_one("#buy-solidarity-cushion")
    assert box.select_one('[role="status"]').get_text(" ", strip=True) == (
        "Added to your cart: Solidarity cushion, One size / Red (1 in total). View your cart"
    )
    assert box.select_one('[role="status"] a')["href"] == "/cart"
    assert buy_form(page, "Solidarity cushion").find("button", string="Add to cart") is not None
    count = page.select_one("#cart-count")
    assert (count["hx-swap-oob"], count.get_text()) == ("true", "1")
    # again: 2 in the line, the header at 2, and the story remembered
    r = client.post("/cart/add", data=fields_of(form), headers=HX)
    assert soup(r.text).select_one("#cart-count").get_text() == "2"
    assert [(ln.quantity, ln.article_id) for ln in cart_lines(db)] == [(2, story.id)]
    assert header_count(client) == "2"


@pytest.mark.parametrize(
    ("changes", "label", "message"),
    [
        ({"quantity": "0"}, "Quantity", "Choose a quantity from 1 to 20."),
        ({"quantity": "abc"}, "Quantity", "Choose a quantity from 1 to 20."),
        ({"quantity": "1000000000"}, "Quantity", "Choose a quantity from 1 to 20."),
        ({"size": "XXXL"}, "Size", "Choose a size from the list."),
        ({"colour": "Tartan"}, "Colour", "Choose a colour from the list."),
    ],
)
def test_refused_without_javascript_shows_the_story_with_the_error_by_that_form(
    client, db, story, changes, label, message
) -> None:  # type: ignore[no-untyped-def]
    form = buy_form(soup(client.get(STORY).text), "Pay the nurses t-shirt")
    data = fields_of(form, **{"size": "L", "colour": "White", "quantity": "3", **changes})
    r = client.post("/cart/add", data=data, follow_redirects=False)
    assert r.status_code == 422
    page = soup(r.text)
    assert page.find("h1").get_text(strip=True) == "Nurses strike for fair pay"  # the story, not the cart
    shirt = buy_form(page, "Pay the nurses t-shirt")
    assert error_beside(shirt, label) == message
    assert control(shirt, "Quantity")["value"] == data["quantity"]  # kept
    if label != "Size":
        assert control(shirt, "Size").find("option", selected=True)["value"] == "L"
    if label != "Colour":
        assert control(shirt, "Colour").find("option", selected=True)["value"] == "White"
    cushion = buy_form(page, "Solidarity cushion")
    assert [error_beside(cushion, name) for name in ("Size", "Colour", "Quantity")] == [None] * 3
    assert cart_lines(db) == []
    # the next reader gets the plain story, not this one's errors
    assert soup(client.get(STORY).text).select(".buy-beside .error") == []


def test_refused_with_htmx_answers_422_with_that_box_and_the_error(client, db, story) -> None:  # type: ignore[no-untyped-def]
    form = buy_form(soup(client.get(STORY).text), "Pay the nurses t-shirt")
    r = client.post("/cart/add", data=fields_of(form, quantity="21"), headers=HX)
    assert r.status_code == 422
    page = soup(r.text)
    assert page.find("h1") is None
    assert (
        error_beside(buy_form(page, "Pay the nurses t-shirt"), "Quantity")
        == "Choose a quantity from 1 to 20."
    )
    assert control(buy_form(page, "Pay the nurses t-shirt"), "Quantity")["value"] == "21"
    assert page.select_one("#cart-count").get_text() == "0"
    assert cart_lines(db) == []


def test_every_reader_of_the_kept_page_gets_a_token_of_their_own(app, client, db, story) -> None:  # type: ignore[no-untyped-def]
    first = client.get(STORY).text  # made and kept
    with TestClient(app) as other:
        second = other.get(STORY).text  # from the page cache
        mine = fields_of(buy_form(soup(first), "Solidarity cushion"))
        theirs = fields_of(buy_form(soup(second), "Solidarity cushion"))
        assert mine["csrf_token"] != theirs["csrf_token"]
        # each reader's token works for them, and not for the other
        assert other.post("/cart/add", data=theirs, follow_redirects=False).status_code == 303
        assert client.post("/cart/add", data=theirs, follow_redirects=False).status_code == 403
        assert client.post("/cart/add", data=mine, follow_redirects=False).status_code == 303
    assert [ln.article_id for ln in cart_lines(db)] == [story.id, story.id]


def test_the_story_is_recorded_on_the_order(client, db, story) -> None:  # type: ignore[no-untyped-def]
    form = buy_form(soup(client.get(STORY).text), "Pay the nurses t-shirt")
    client.post("/cart/add", data=fields_of(form), headers=HX)
    r = checkout(client)
    assert (r.status_code, r.headers["location"]) == (303, "/checkout/pay")
    db.rollback()
    order: Any = db.exec(select(Order)).one()
    db.rollback()
    assert order.attribution_article_id == story.id


def test_a_product_the_story_does_not_show_falls_back_to_its_own_page(client, db, story) -> None:  # type: ignore[no-untyped-def]
    make_product(db, "Other tee", sizes="M", colours="Black")
    form = buy_form(soup(client.get(STORY).text), "Pay the nurses t-shirt")
    r = client.post(
        "/cart/add", data=fields_of(form, product="other-tee", quantity="0"), follow_redirects=False
    )
    assert r.status_code == 422
    assert soup(r.text).find("h1").get_text(strip=True) == "Other tee"
    # a "next" that isn't the story's own address is not followed
    r = client.post("/cart/add", data=fields_of(form, next="https://evil.example/"), follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/cart")
