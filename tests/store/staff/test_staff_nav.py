"""The staff nav (templates/layouts/_staff_nav.html): four groups, each role sees what it may use."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup

EVERYTHING = {
    "Content": [
        ("Articles", "/staff/articles"),
        ("Newsletter", "/staff/newsletter"),
        ("Attribution", "/staff/attribution"),
    ],
    "Shop": [
        ("Catalogue", "/staff/catalogue"),
        ("Catalogue CSV", "/staff/catalogue/import"),
        ("Discounts", "/staff/discounts"),
        ("Shipping", "/staff/shipping"),
    ],
    "Orders": [("Orders", "/staff/orders"), ("Exceptions", "/staff/fulfilment")],
    "Money": [("Donations", "/staff/donations"), ("Funding", "/staff/funding")],
}


def _nav(client) -> dict[str, list[tuple[str, str]]]:  # type: ignore[no-untyped-def]
    soup = BeautifulSoup(client.get("/staff").text, "html.parser")
    return {
        group.summary.get_text(strip=True): [
            (a.get_text(strip=True), a["href"]) for a in group.select(".nav-menu a")
        ]
        for group in soup.select("nav.staff-nav .nav-group details")
    }


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("owner", EVERYTHING),
        ("editor", {"Content": EVERYTHING["Content"]}),
        ("catalogue", {"Shop": EVERYTHING["Shop"][:3]}),
        ("fulfilment", {"Orders": EVERYTHING["Orders"]}),
    ],
)
def test_each_role_sees_the_groups_and_links_it_may_use(client, login_as, role, expected):
    login_as(role)

    assert _nav(client) == expected
    for links in expected.values():
        for _, path in links:
            assert client.get(path).status_code == 200, path


@pytest.mark.parametrize(
    ("path", "link"),
    [
        ("/staff/discounts", "Discounts"),
        ("/staff/catalogue/import", "Catalogue CSV"),
        ("/staff/catalogue/new", "Catalogue"),
    ],
)
def test_the_current_page_is_marked_in_its_group(client, login_as, path, link):
    login_as("owner")

    soup = BeautifulSoup(client.get(path).text, "html.parser")

    assert [s.get_text(strip=True) for s in soup.select(".staff-nav summary.current")] == ["Shop"]
    assert [a.get_text(strip=True) for a in soup.select(".staff-nav a[aria-current=page]")] == [link]
