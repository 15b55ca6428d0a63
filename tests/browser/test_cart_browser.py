"""The cart in place (issue 12) in headless Chromium: quantity changes, refused quantities and removals
update the lines, totals and the header's count without loading a page."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.test_checkout_browser import watch_errors
from tests.factories import make_product

pytestmark = pytest.mark.browser


@pytest.fixture
def shop(db, live_server) -> Any:  # type: ignore[no-untyped-def]
    make_product(db, "No War t-shirt", price="25.00", sizes="S, M, L", colours="Black, White")
    make_product(db, "Peace cushion", collection="cushions", price="30.00", sizes="One size", colours="Red")
    return live_server


def add_from_product_page(page: Any, base: str, slug: str, quantity: str) -> None:
    page.goto(f"{base}/shop/{slug}")
    page.get_by_label("Quantity").fill(quantity)
    page.get_by_role("button", name="Add to cart").click()
    page.wait_for_url(f"{base}/cart")


def mark_window(page: Any) -> None:
    """A marker on `window` lives only as long as this page: a page load would lose it."""
    page.evaluate("window.__noReload = 'still here'")


def same_page(page: Any) -> bool:
    return bool(page.evaluate("window.__noReload === 'still here'"))


def test_quantity_change_and_removal_update_in_place(page, shop) -> None:  # type: ignore[no-untyped-def]
    errors = watch_errors(page)
    add_from_product_page(page, shop.url, "no-war-t-shirt", "2")
    add_from_product_page(page, shop.url, "peace-cushion", "1")
    total = page.locator('[data-amount="total"]')
    count = page.locator("header .cart-count")
    assert (total.inner_text(), count.inner_text()) == ("£83.99", "3")
    mark_window(page)

    # change the shirt's quantity: the total and the header's count follow, the page stays
    shirt_qty = page.get_by_role("row", name="No War t-shirt").get_by_label("Quantity")
    shirt_qty.fill("4")
    page.get_by_role("row", name="No War t-shirt").get_by_role("button", name="Update").click()
    expect(total).to_have_text("£133.99")
    assert count.inner_text() == "5"
    assert page.get_by_role("status").filter(has_text="Quantity updated.").count() == 1
    assert same_page(page) and page.url == f"{shop.url}/cart"

    # a refused quantity: the message beside that line's field, nothing else changes
    shirt_qty = page.get_by_role("row", name="No War t-shirt").get_by_label("Quantity")
    shirt_qty.fill("0")
    page.get_by_role("row", name="No War t-shirt").get_by_role("button", name="Update").click()
    error = page.get_by_role("row", name="No War t-shirt").locator(".error")
    error.wait_for()
    assert error.inner_text() == "Choose a quantity from 1 to 20."
    assert (total.inner_text(), count.inner_text()) == ("£133.99", "5")
    assert same_page(page)

    # remove the cushion
    page.get_by_role("button", name="Remove Peace cushion").click()
    expect(total).to_have_text("£103.99")
    assert count.inner_text() == "4"
    assert page.get_by_role("row", name="Peace cushion").count() == 0
    assert same_page(page)

    # and the page the server gives next agrees
    page.reload()
    assert (total.inner_text(), count.inner_text()) == ("£103.99", "4")
    # Chromium logs every 4xx answer; the one 422 was the refused quantity
    refused = [e for e in errors if "status of 422" in e]
    assert len(refused) == 1 and "/cart/lines/" in refused[0]
    assert [e for e in errors if e not in refused] == [], "\n".join(errors)


def test_quantity_change_on_leaving_the_field(page, shop) -> None:  # type: ignore[no-untyped-def]
    add_from_product_page(page, shop.url, "no-war-t-shirt", "1")
    mark_window(page)
    field = page.get_by_label("Quantity")
    field.fill("3")
    field.press("Tab")  # a change event, no button pressed
    expect(page.locator("header .cart-count")).to_have_text("3")
    assert page.locator('[data-amount="subtotal"]').inner_text() == "£75.00"
    assert same_page(page)


def test_without_javascript_the_cart_still_changes(_playwright_browser, shop) -> None:  # type: ignore[no-untyped-def]
    context = _playwright_browser.new_context(locale="en-GB", java_script_enabled=False)
    page = context.new_page()
    try:
        add_from_product_page(page, shop.url, "no-war-t-shirt", "2")
        page.get_by_label("Quantity").fill("3")
        page.get_by_role("button", name="Update").click()
        page.wait_for_load_state()
        assert page.locator("header .cart-count").inner_text() == "3"
        assert page.locator('[data-amount="subtotal"]').inner_text() == "£75.00"
        page.get_by_role("button", name="Remove No War t-shirt").click()
        page.wait_for_load_state()
        assert page.locator(".empty-cart").count() == 1
        assert page.locator("header .cart-count").inner_text() == "0"
    finally:
        context.close()
