"""The staff nav reads on one line at 1280 px, and its menus open to their links."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_staff_nav_is_one_line_high_at_1280px_and_its_menus_open(page, live_server, make_staff):
    email = make_staff("owner")  # the owner sees every group and link
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{live_server.url}/staff/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{live_server.url}/staff")

    items = page.locator("nav.staff-nav > ul > li")
    boxes = [items.nth(i).bounding_box() for i in range(items.count())]
    header = page.locator(".staff-header .header-inner").bounding_box()
    brand = page.locator(".staff-header .brand").bounding_box()

    assert items.count() == 6  # Content, Shop, Orders, Money, View site, Log out
    assert max(b["y"] for b in boxes) - min(b["y"] for b in boxes) < 4  # all on one line
    assert max(b["height"] for b in boxes) < 40
    assert header["height"] < brand["height"] + 40  # brand and nav side by side, one line high

    nav = page.get_by_role("navigation", name="Staff")
    nav.get_by_text("Shop", exact=True).click()
    catalogue = nav.get_by_role("link", name="Catalogue", exact=True)
    assert catalogue.is_visible()
    nav.get_by_text("Money", exact=True).click()
    catalogue.wait_for(state="hidden")  # one menu open at a time
    nav.get_by_role("link", name="Funding").click()
    page.wait_for_url("**/staff/funding")
    assert page.locator(".staff-nav summary.current").inner_text().startswith("Money")
