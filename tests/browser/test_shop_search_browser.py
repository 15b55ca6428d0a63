"""A shopper finds a product with the shop's search box by a word of its description."""

from __future__ import annotations

import pytest

from tests.factories import make_product

pytestmark = pytest.mark.browser


@pytest.fixture
def shelf(db):  # type: ignore[no-untyped-def]
    for title, description in (
        ("No War t-shirt", "Organic cotton, printed in Leeds."),
        ("Peace dove cushion", "A linen cover, embroidered by a workers' co-operative in Bradford."),
        ("Pay the nurses t-shirt", "Every sale gives two pounds to the strike fund."),
    ):
        make_product(db, title, description=description, sizes="M", colours="Black")


def test_the_search_box_finds_a_product_by_a_word_of_its_description(page, live_server, shelf):
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/shop")

    page.get_by_label("Search the shop").fill("embroidered")
    page.get_by_role("button", name="Search").click()

    page.wait_for_url("**/shop?q=embroidered*")
    assert page.locator(".product-card h3").all_inner_texts() == ["Peace dove cushion"]
    assert page.get_by_label("Search the shop").input_value() == "embroidered"
    page.get_by_role("link", name="Peace dove cushion").click()
    assert page.locator("h1").inner_text() == "Peace dove cushion"
