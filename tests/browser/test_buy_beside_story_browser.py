"""Buying beside the story (issue 12) in headless Chromium: "Add to cart" on a story keeps the reader on
the story, confirms in place with a link to the cart, puts the header's count up, and the story is
credited with the sale through to the paid order."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from store.cart.models import CartLine
from store.order.models import Order
from tests.browser.test_cart_browser import mark_window, same_page
from tests.browser.test_checkout_browser import fill_card, watch_errors
from tests.factories import make_story_with_products
from tests.fakes.localstripe import CARD_SUCCEEDS

pytestmark = pytest.mark.browser


@pytest.fixture
def story(db, live_server) -> Any:  # type: ignore[no-untyped-def]
    article = make_story_with_products(db)
    live_server.article_id = article.id
    return live_server


def the_lines(db) -> list[tuple[int, int | None]]:  # type: ignore[no-untyped-def]
    db.rollback()
    found = [(ln.quantity, ln.article_id) for ln in db.exec(select(CartLine).order_by(CartLine.id)).all()]
    db.rollback()
    return found


def test_adding_from_the_story_stays_on_the_story_and_credits_it_with_the_sale(
    page, story, db, stripe_env
) -> None:  # type: ignore[no-untyped-def]
    errors = watch_errors(page)
    url = f"{story.url}/news/nurses-strike"
    page.goto(url)
    count = page.locator("header .cart-count")
    assert count.inner_text() == "0"
    mark_window(page)

    shirt = page.get_by_role("form", name="Buy Pay the nurses t-shirt")
    shirt.get_by_label("Size").select_option("L")
    shirt.get_by_label("Colour").select_option("White")
    shirt.get_by_label("Quantity").fill("1")
    shirt.get_by_role("button", name="Add to cart").click()

    confirmation = page.locator("#buy-pay-the-nurses-t-shirt").get_by_role("status")
    expect(confirmation).to_have_text(
        "Added to your cart: Pay the nurses t-shirt, L / White (1 in total). View your cart"
    )
    expect(count).to_have_text("1")
    assert same_page(page) and page.url == url
    assert the_lines(db) == [(1, story.article_id)]
    # the picker still shows the reader's choice, ready for another
    shirt = page.get_by_role("form", name="Buy Pay the nurses t-shirt")
    assert shirt.get_by_label("Size").input_value() == "L"
    assert shirt.get_by_label("Colour").input_value() == "White"

    # a refused quantity: the message beside that field, the count as it was, still on the story
    cushion = page.get_by_role("form", name="Buy Solidarity cushion")
    cushion.get_by_label("Quantity").fill("0")
    cushion.get_by_role("button", name="Add to cart").click()
    error = page.locator("#buy-solidarity-cushion-quantity-error")
    expect(error).to_have_text("Choose a quantity from 1 to 20.")
    assert page.locator("#buy-solidarity-cushion-quantity").get_attribute(
        "aria-describedby"
    ) == error.get_attribute("id")
    assert count.inner_text() == "1" and same_page(page)

    # on to the cart by the confirmation's link, and through to a paid order credited to the story
    page.locator("#buy-pay-the-nurses-t-shirt").get_by_role("link", name="View your cart").click()
    page.wait_for_url(f"{story.url}/cart")
    page.get_by_role("link", name="Checkout").click()
    page.wait_for_url(f"{story.url}/checkout")
    page.get_by_label("Email").fill("ada@example.org")
    page.get_by_label("Full name").fill("Ada Lovelace")
    page.get_by_label("Address line 1").fill("12 Marsh Lane")
    page.get_by_label("Town or city").fill("Leeds")
    page.get_by_label("Postcode").fill("LS1 4AP")
    page.get_by_label("Country").select_option("GB")
    page.get_by_role("button", name="Continue to payment").click()
    page.wait_for_url(f"{story.url}/checkout/pay")
    fill_card(page, CARD_SUCCEEDS)
    page.get_by_role("button", name="Pay £28.99").click()
    page.wait_for_url(f"{story.url}/checkout/complete/*")
    db.rollback()
    order = db.exec(select(Order)).one()
    db.rollback()
    assert order.status in {"paid", "submitted"}
    assert order.attribution_article_id == story.article_id
    refused = [e for e in errors if "status of 422" in e]  # Chromium logs the refused add itself
    assert len(refused) == 1
    assert [e for e in errors if e not in refused] == []


def test_without_javascript_adding_returns_to_the_story(_playwright_browser, story, db) -> None:  # type: ignore[no-untyped-def]
    context = _playwright_browser.new_context(locale="en-GB", java_script_enabled=False)
    page = context.new_page()
    try:
        url = f"{story.url}/news/nurses-strike"
        page.goto(url)
        cushion = page.get_by_role("form", name="Buy Solidarity cushion")
        cushion.get_by_label("Quantity").fill("2")
        cushion.get_by_role("button", name="Add to cart").click()
        page.wait_for_url(url)
        assert (
            page.locator(".flash").inner_text()
            == "Added to your cart: Solidarity cushion, One size / Red (2 in total)."
        )
        assert page.locator("header .cart-count").inner_text() == "2"
        assert the_lines(db) == [(2, story.article_id)]
        # a refused one: the story again, the error beside that form's field
        cushion = page.get_by_role("form", name="Buy Solidarity cushion")
        cushion.get_by_label("Quantity").fill("25")
        cushion.get_by_role("button", name="Add to cart").click()
        page.wait_for_load_state()
        assert page.get_by_role("heading", level=1).inner_text() == "Nurses strike for fair pay"
        assert (
            page.locator("#buy-solidarity-cushion-quantity-error").inner_text()
            == "Choose a quantity from 1 to 20."
        )
        assert page.locator("#buy-solidarity-cushion-quantity").input_value() == "25"
        assert the_lines(db) == [(2, story.article_id)]
    finally:
        context.close()
