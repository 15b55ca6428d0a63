"""store/page_cache.py through the shop's pages: a cached copy answers like a fresh render, with each
visitor's own CSRF token, cookie and cart count, ETags and 304s, and never outlives a change."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from catalog import service
from store.web import CSRF_COOKIE
from tests.factories import make_product


def _soup(response):  # type: ignore[no-untyped-def]
    return BeautifulSoup(response.text, "html.parser")


def _token(response) -> str:  # type: ignore[no-untyped-def]
    return _soup(response).select_one("form[action='/cart/add'] input[name=csrf_token]")["value"]


@pytest.fixture
def visitor(app):  # type: ignore[no-untyped-def]
    """Another browser (its own cookies), on the same app as `client`."""
    with TestClient(app, raise_server_exceptions=False) as other:
        yield other


def test_a_cached_page_answers_like_a_fresh_render(client, db, visitor, count_queries):
    make_product(db, "No War t-shirt")

    # Given one visitor's visit rendered the page (and kept it)
    fresh = client.get("/shop/no-war-t-shirt")
    assert count_queries, "the first visit renders"
    count_queries.clear()

    # When a new visitor asks for it
    cached = visitor.get("/shop/no-war-t-shirt")

    # Then no query runs, yet they get the same page and headers, with their own CSRF secret and token
    assert count_queries == []
    assert (cached.status_code, cached.headers["content-type"]) == (200, "text/html; charset=utf-8")
    assert {k for k in cached.headers if k != "etag"} == {k for k in fresh.headers if k != "etag"}
    for name in ("content-security-policy", "x-frame-options", "x-content-type-options", "referrer-policy"):
        assert cached.headers[name] == fresh.headers[name]
    assert cached.headers["cache-control"] == "private, no-cache"
    new_cookie = cached.headers["set-cookie"]
    assert (
        new_cookie.startswith(f"{CSRF_COOKIE}=") and "HttpOnly" in new_cookie and "SameSite=lax" in new_cookie
    )
    assert visitor.cookies[CSRF_COOKIE] != client.cookies[CSRF_COOKIE]
    assert _token(cached) != _token(fresh)
    assert cached.text.replace(_token(cached), "T") == fresh.text.replace(_token(fresh), "T")


def test_the_token_in_a_cached_page_posts_the_form(db, visitor, count_queries, client):
    make_product(db, "No War t-shirt", sizes="M", colours="Black")
    client.get("/shop/no-war-t-shirt")  # cached now
    count_queries.clear()

    page = visitor.get("/shop/no-war-t-shirt")
    assert count_queries == []
    added = visitor.post(
        "/cart/add",
        data={
            "csrf_token": _token(page),
            "product": "no-war-t-shirt",
            "size": "M",
            "colour": "Black",
            "quantity": "2",
        },
        follow_redirects=False,
    )

    assert added.status_code == 303
    visitor.get(added.headers["location"])  # the cart page shows (and clears) "Added to your cart"
    # and the header's cart count on the cached page is this visitor's own
    count_queries.clear()
    again = visitor.get("/shop/no-war-t-shirt")
    assert count_queries == []
    assert _soup(again).select_one(".cart-count").get_text(strip=True) == "2"
    assert _soup(client.get("/shop/no-war-t-shirt")).select_one(".cart-count").get_text(strip=True) == "0"


def test_a_revisit_gets_a_304_until_the_catalogue_changes(client, db, count_queries):
    product = make_product(db, "No War t-shirt", price="25.00")
    first = client.get("/shop")
    etag = first.headers["etag"]

    count_queries.clear()
    again = client.get("/shop", headers={"If-None-Match": etag})
    head = client.head("/shop")

    assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", etag)
    assert (head.status_code, head.content, head.headers["content-length"]) == (
        200,
        b"",
        first.headers["content-length"],
    )
    assert count_queries == []

    product.price = 2200
    db.add(product)
    db.commit()
    changed = client.get("/shop", headers={"If-None-Match": etag})

    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert _soup(changed).select_one(".product-card .price").get_text(strip=True) == "£22.00"


def test_link_parameters_fill_a_hidden_field_in_one_cached_copy(client, db, count_queries):
    make_product(db, "No War t-shirt")
    client.get("/shop/no-war-t-shirt")
    count_queries.clear()

    from_story = _soup(client.get("/shop/no-war-t-shirt?from=climate-march-london"))
    from_elsewhere = _soup(client.get("/shop/no-war-t-shirt?from=nhs-strike"))
    forged = _soup(client.get('/shop/no-war-t-shirt?from="><script>alert(1)</script>'))

    assert count_queries == []
    assert from_story.select_one("input[name=from]")["value"] == "climate-march-london"
    assert from_elsewhere.select_one("input[name=from]")["value"] == "nhs-strike"
    assert forged.select_one("input[name=from]") is None and forged.find("script", string="alert(1)") is None


def test_only_pages_every_visitor_shares_are_kept(client, db, count_queries, login_as):
    make_product(db, "No War t-shirt")
    make_product(db, "Secret draft", published=False)

    for path in ("/shop?utm_source=x", "/shop?sort=bogus", "/shop?q=war", "/shop/no-war-t-shirt?size=XXL"):
        client.get(path)
        count_queries.clear()
        assert client.get(path).status_code == 200
        assert count_queries, f"{path} was served from the cache"

    # htmx asks for its fragment; staff get pages rendered for them (and a draft is never kept)
    client.get("/shop")
    count_queries.clear()
    client.get("/shop", headers={"HX-Request": "true"})
    assert count_queries
    login_as("catalogue")
    assert client.get("/shop/secret-draft").status_code == 200
    client.cookies.clear()
    assert client.get("/shop/secret-draft").status_code == 404


def test_a_rolled_back_change_keeps_the_cache_and_a_committed_one_drops_it(client, db):
    product = make_product(db, "No War t-shirt", price="25.00")
    client.get("/shop")
    cache = client.app.state.page_cache
    assert cache.get("/shop") is not None

    product.price = 1
    db.add(product)
    db.flush()
    db.rollback()
    assert cache.get("/shop") is not None

    service.set_published(db, product_id=product.id, published=False)
    db.commit()
    assert cache.get("/shop") is None
    assert _soup(client.get("/shop")).select(".product-card") == []


def test_hits_are_counted_by_the_request_metrics_under_their_route(client, db, app, count_queries):
    from prometheus_client.parser import text_string_to_metric_families

    def served() -> float:
        text = TestClient(app, client=("127.0.0.1", 40000)).get("/metrics").text
        return sum(
            s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == "storefront_http_requests_total"
            and s.labels == {"method": "GET", "route": "/shop/{slug}", "status": "200"}
        )

    make_product(db, "No War t-shirt")
    before = served()
    client.get("/shop/no-war-t-shirt")
    count_queries.clear()
    client.get("/shop/no-war-t-shirt")
    client.get("/shop/no-war-t-shirt?from=climate-march-london")

    assert [q for q in count_queries if "product" in q] == []  # both from the cache
    assert served() - before == 3


def test_a_new_visitor_over_https_gets_a_secure_csrf_cookie_from_a_cached_page(
    app, client, db, count_queries
):
    make_product(db, "No War t-shirt")
    client.get("/shop/no-war-t-shirt")  # kept
    proxy = TestClient(app, client=("127.0.0.1", 40000))  # the trusted proxy, as nginx
    count_queries.clear()

    cached = proxy.get("/shop/no-war-t-shirt", headers={"X-Forwarded-Proto": "https"})

    assert count_queries == []
    assert (
        cached.headers["set-cookie"].startswith(f"{CSRF_COOKIE}=")
        and "; Secure" in cached.headers["set-cookie"]
    )
