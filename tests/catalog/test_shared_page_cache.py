"""The public copy of a page (STORE_SHARED_CACHE_SECONDS, store/page_cache.py): every visitor without
cookies gets the same bytes, which nginx may keep and answer itself; their first form post carries no
token and is judged by the browser's own word that it comes from our pages (store/security.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from store.config import get_settings
from store.web import CSRF_COOKIE
from tests.conftest import soup
from tests.factories import make_product

PUBLIC = "public, max-age=0, s-maxage=5"
OURS = get_settings().base_url.rstrip("/")  # STORE_BASE_URL: an origin, as the tests set it
SAME_SITE = {"Sec-Fetch-Site": "same-origin", "Origin": OURS}


@pytest.fixture
def shared_app(engine):  # type: ignore[no-untyped-def]
    from store.app import create_app

    return create_app(get_settings().model_copy(update={"shared_cache_seconds": 5}))


@pytest.fixture
def new_browser(shared_app) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    """Each call: a browser with no cookies yet, on the shop behind the shared cache."""
    opened: list[TestClient] = []

    def make() -> TestClient:
        client = TestClient(shared_app, raise_server_exceptions=False)
        opened.append(client.__enter__())
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


def _add_form(response) -> dict[str, str]:  # type: ignore[no-untyped-def]
    form = soup(response.text).select_one("form[action='/cart/add']")
    assert form is not None, "the product page has no add-to-cart form"
    return {field["name"]: field.get("value", "") for field in form.select("input[type=hidden]")}


def _add(browser, page, headers: dict[str, str]):  # type: ignore[no-untyped-def]
    """Post the product page's add-to-cart form (`page`: the response, or its fields)."""
    fields = page if isinstance(page, dict) else _add_form(page)
    data = {**fields, "size": "M", "colour": "Black", "quantity": "2"}
    return browser.post("/cart/add", data=data, headers=headers, follow_redirects=False)


def _cart_lines(browser) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """The cart page's lines: what it says, and the quantity in its box."""
    cart = soup(browser.get("/cart").text)
    return [
        (" ".join(row.get_text(" ", strip=True).split()), row.select_one("input[name=quantity]")["value"])
        for row in cart.select("tbody tr")
        if row.select_one("input[name=quantity]")
    ]


def test_visitors_without_cookies_share_one_copy_of_a_page(db, new_browser) -> None:  # type: ignore[no-untyped-def]
    make_product(db, "No War t-shirt", sizes="M", colours="Black")

    first = new_browser().get("/shop/no-war-t-shirt")  # rendered by the route
    second = new_browser().get("/shop/no-war-t-shirt")  # from the shop's own page cache

    for page in (first, second):
        assert page.status_code == 200
        assert page.headers["cache-control"] == PUBLIC
        assert page.headers["vary"] == "Cookie"
        assert "set-cookie" not in page.headers  # nothing for one visitor alone in a shared copy
        assert _add_form(page)["csrf_token"] == ""
        assert soup(page.text).select_one(".cart-count").get_text(strip=True) == "0"
        assert page.headers["content-security-policy"].startswith("default-src 'self'")
    assert first.content == second.content and first.headers["etag"] == second.headers["etag"]


def test_a_visitor_with_a_cookie_gets_a_page_of_their_own(db, new_browser) -> None:  # type: ignore[no-untyped-def]
    make_product(db, "No War t-shirt", sizes="M", colours="Black")
    new_browser().get("/shop/no-war-t-shirt")  # the public copy is made and kept

    browser = new_browser()
    browser.cookies.set("consent", "yes")  # any cookie at all: nginx passes the request on too
    own = browser.get("/shop/no-war-t-shirt")

    assert own.headers["cache-control"] == "private, no-cache"
    assert "vary" not in own.headers
    assert own.headers["set-cookie"].startswith(f"{CSRF_COOKIE}=")
    assert len(_add_form(own)["csrf_token"]) > 20


def test_a_page_that_is_not_cached_is_never_public(db, new_browser) -> None:  # type: ignore[no-untyped-def]
    make_product(db, "No War t-shirt", sizes="M", colours="Black")

    search = new_browser().get("/shop?q=war")  # shoppers' words: never kept, never shared
    cart = new_browser().get("/cart")

    assert search.status_code == 200 and search.headers["cache-control"] == "private, no-cache"
    assert search.headers["set-cookie"].startswith(f"{CSRF_COOKIE}=")
    assert cart.headers["cache-control"] == "no-store"


def test_the_public_copy_adds_to_the_cart_from_our_own_pages(db, new_browser) -> None:  # type: ignore[no-untyped-def]
    make_product(db, "No War t-shirt", price="25.00", sizes="M", colours="Black")
    for headers in ({"Sec-Fetch-Site": "same-origin"}, {"Origin": OURS}, SAME_SITE):
        browser = new_browser()
        page = browser.get("/shop/no-war-t-shirt")
        assert _add_form(page)["csrf_token"] == ""

        added = _add(browser, page, headers)

        assert added.status_code == 303 and added.headers["location"] == "/cart", headers
        assert _cart_lines(browser) == [
            ("No War t-shirt M / Black · £25.00 each Quantity Update £50.00 Remove", "2")
        ], headers
        # from now on the visitor has cookies: their pages are their own, with a token
        again = browser.get("/shop/no-war-t-shirt")
        assert again.headers["cache-control"] == "private, no-cache"
        assert len(_add_form(again)["csrf_token"]) > 20


@pytest.mark.parametrize(
    "headers",
    [
        {},  # neither header: not a browser we can take at its word
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site", "Origin": OURS},
        {"Sec-Fetch-Site": "same-site"},
    ],
)
def test_a_post_without_a_token_from_elsewhere_is_refused(db, new_browser, headers) -> None:  # type: ignore[no-untyped-def]
    make_product(db, "No War t-shirt", sizes="M", colours="Black")
    browser = new_browser()
    page = browser.get("/shop/no-war-t-shirt")

    refused = _add(browser, page, headers)

    assert refused.status_code == 403
    assert "expired" in refused.text.lower()
    assert _cart_lines(browser) == []


def test_a_wrong_token_is_refused_even_from_our_own_pages(db, new_browser) -> None:  # type: ignore[no-untyped-def]
    make_product(db, "No War t-shirt", sizes="M", colours="Black")
    browser = new_browser()
    page = browser.get("/shop/no-war-t-shirt")
    data = {**_add_form(page), "csrf_token": "5f0.deadbeef", "size": "M", "colour": "Black", "quantity": "1"}

    refused = browser.post("/cart/add", data=data, headers=SAME_SITE, follow_redirects=False)

    assert refused.status_code == 403
    assert _cart_lines(browser) == []


def test_staff_always_need_the_token(db, new_browser, make_staff) -> None:  # type: ignore[no-untyped-def]
    browser = new_browser()
    login = browser.post(
        "/staff/login",
        data={"email": make_staff("owner"), "password": "correct-horse-battery", "csrf_token": ""},
        headers=SAME_SITE,
        follow_redirects=False,
    )

    assert login.status_code == 403
    assert "rrm_staff" not in browser.cookies


def test_without_shared_copies_every_post_needs_its_token(db, client) -> None:  # type: ignore[no-untyped-def]
    make_product(db, "No War t-shirt", sizes="M", colours="Black")  # `client`: the shop as it starts
    page = client.get("/shop/no-war-t-shirt")
    assert page.headers["cache-control"] == "private, no-cache" and len(_add_form(page)["csrf_token"]) > 20

    refused = _add(client, {**_add_form(page), "csrf_token": ""}, SAME_SITE)

    assert refused.status_code == 403
    assert _cart_lines(client) == []
