"""Staff create a t-shirt with variants and a photo; a shopper finds it in /shop and beside a story."""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from PIL import Image
from playwright.sync_api import expect

from catalog.service import ensure_collections
from store import cache
from store.news.service import set_tags
from tests.browser.test_checkout_browser import watch_errors
from tests.factories import make_article, make_product

pytestmark = pytest.mark.browser


@pytest.fixture
def newsroom(db, make_staff, tmp_path):  # type: ignore[no-untyped-def]
    ensure_collections(db)
    article = make_article(
        db,
        slug="climate-march-london",
        title="Tens of thousands march for climate justice",
        body_md="Marchers filled Whitehall.",
    )
    set_tags(db, article_id=article.id, tags=["climate", "protest"])
    db.commit()
    cache.backend().clear()
    photo = tmp_path / "planet-b.png"
    out = io.BytesIO()
    Image.new("RGB", (900, 900), (35, 80, 50)).save(out, "PNG")
    photo.write_bytes(out.getvalue())
    return {"staff": make_staff("catalogue"), "photo": photo}


def test_staff_create_a_t_shirt_and_a_shopper_sees_it_in_the_shop_and_beside_a_story(
    page, live_server, newsroom
):
    base = live_server.url
    # Staff log in and create the shirt: three sizes × two colours, one price, a photo with alt text
    page.goto(f"{base}/staff/catalogue/new")
    page.get_by_label("Email").fill(newsroom["staff"])
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{base}/staff/catalogue/new")
    page.get_by_label("Title").fill("There Is No Planet B t-shirt")
    page.get_by_label("Slug").fill("no-planet-b")
    page.get_by_label("Description").fill("Organic cotton, water-based inks.")
    page.get_by_label("Collection").select_option("t-shirts")
    page.get_by_label("Price").fill("25.00")
    page.get_by_label("Sizes").fill("S, M, L")
    page.get_by_label("Colours").fill("Forest Green, Natural")
    page.get_by_label("Tags").fill("climate")
    page.get_by_label("Published").check()
    page.get_by_label("Photo").set_input_files(str(newsroom["photo"]))
    page.get_by_label("Alt text").fill("A green t-shirt printed with There Is No Planet B")
    page.get_by_role("button", name="Save").click()

    assert page.locator(".flash").inner_text() == "Product saved."
    assert page.locator("table.variants tbody tr").count() == 6
    assert page.locator("table.variants code").all_inner_texts()[:3] == [
        "RRM-NO-PLANET-B-FOREST-GREEN-S",
        "RRM-NO-PLANET-B-FOREST-GREEN-M",
        "RRM-NO-PLANET-B-FOREST-GREEN-L",
    ]
    page.get_by_role("button", name="Log out").click()

    # A shopper sees it in the shop, with its photo and price
    page.goto(f"{base}/shop")
    card = page.locator(".product-card", has_text="There Is No Planet B t-shirt")
    assert card.locator(".price").inner_text() == "£25.00"
    assert card.locator("img").get_attribute("alt") == "A green t-shirt printed with There Is No Planet B"
    assert page.evaluate("document.querySelector('.product-card img').naturalWidth") > 0

    # and beside the climate story, linking to the product page with the story remembered
    page.goto(f"{base}/news/climate-march-london")
    beside = page.locator(".beside .product-card a")
    assert beside.get_attribute("href") == "/shop/no-planet-b?from=climate-march-london"
    beside.click()
    assert page.locator("h1").inner_text() == "There Is No Planet B t-shirt"
    assert page.locator("input[name=from]").get_attribute("value") == "climate-march-london"

    # htmx swaps the price and availability when the colour changes; the cart form keeps the choice
    page.get_by_label("Size").select_option("L")
    page.get_by_label("Colour").select_option("Natural")
    page.locator(".choice .available", has_text="L, Natural").wait_for()
    assert page.locator("#price").inner_text() == "£25.00 incl. VAT"
    assert page.get_by_label("Quantity").input_value() == "1"
    assert page.get_by_role("button", name="Add to cart").is_enabled()


def test_a_late_answer_for_an_older_choice_never_replaces_the_newer_one(page, db, live_server):  # type: ignore[no-untyped-def]
    """Size then colour chosen quickly while the first answer is slow: one request at a time per form,
    the latest choice queued, so answers apply in order and the newer choice is what stays shown
    (htmx's own default aborts the older request, which logs errors in the console)."""
    make_product(db, "No War t-shirt", slug="no-war", sizes="S, M, L", colours="Black, White")
    cache.backend().clear()
    errors = watch_errors(page)
    held: list[Any] = []

    def hold_size_only(route: Any) -> None:
        if parse_qs(urlsplit(route.request.url).query).get("colour") == ["White"]:
            route.continue_()
        else:
            held.append(route)

    page.goto(f"{live_server.url}/shop/no-war")
    page.route("**/shop/no-war/choice*", hold_size_only)
    page.get_by_label("Size").select_option("L")
    page.get_by_label("Colour").select_option("White")
    page.wait_for_timeout(300)  # time for an unsynchronised second request to be answered first
    assert len(held) == 1
    with page.expect_response(lambda response: response.request == held[0].request):
        held[0].continue_()  # the older answer arrives last
    expect(page.locator(".choice .available")).to_have_text("In stock: L, White (SKU RRM-NO-WAR-WHITE-L)")
    assert errors == []
