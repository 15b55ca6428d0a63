"""Shop search through /shop?q= and /api/products?q=: SQLite FTS5 or PostgreSQL full text, whichever
database the suite runs on (catalog/search.py chooses by dialect)."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup

from catalog import repository, service
from catalog.shop_routes import PAGE_SIZE
from tests.factories import make_product


def _soup(response):  # type: ignore[no-untyped-def]
    return BeautifulSoup(response.text, "html.parser")


def _titles(response) -> list[str]:  # type: ignore[no-untyped-def]
    return [h.get_text(strip=True) for h in _soup(response).select("#product-grid .product-card h3")]


@pytest.fixture
def shelf(db):  # type: ignore[no-untyped-def]
    make_product(
        db,
        "Solidarity forever t-shirt",
        description="Heavyweight organic cotton with a union banner print.",
        tags="workers-rights",
    )
    make_product(db, "Union made tote", description="Canvas bag.", tags="workers-rights")
    make_product(
        db,
        "Peace dove cushion",
        collection="cushions",
        sizes="45 x 45 cm",
        colours="Natural",
        description="Linen cover embroidered with a dove; the union of peace and craft.",
        tags="anti-war",
    )
    make_product(
        db,
        "Pay the nurses t-shirt",
        description="Printed for the NHS strike fund.",
        tags="nhs, workers-rights",
    )
    make_product(
        db, "Unreleased union hoodie", description="Union hoodie, not yet for sale.", published=False
    )


def test_search_finds_words_in_titles_descriptions_tags_and_skus(client, shelf):
    assert _titles(client.get("/shop?q=dove")) == ["Peace dove cushion"]  # title
    assert _titles(client.get("/shop?q=strike")) == ["Pay the nurses t-shirt"]  # description
    assert _titles(client.get("/shop?q=nhs")) == ["Pay the nurses t-shirt"]  # tag
    # a SKU, whole or in part, typed as shoppers copy it
    assert _titles(client.get("/shop?q=RRM-PAY-THE-NURSES-T-SHIRT-BLACK-M")) == ["Pay the nurses t-shirt"]
    assert _titles(client.get("/shop?q=NATURAL-45-X-45-CM")) == ["Peace dove cushion"]
    # stemmed: the plural finds the singular; every word must match
    assert _titles(client.get("/shop?q=cushions")) == ["Peace dove cushion"]
    assert _titles(client.get("/shop?q=union+banner")) == ["Solidarity forever t-shirt"]


def test_results_are_ranked_title_first_and_drafts_never_show(client, shelf):
    # "union" is in one title, in two descriptions and nowhere in the last; the hoodie is a draft
    titles = _titles(client.get("/shop?q=union"))

    assert titles[0] == "Union made tote"
    assert sorted(titles[1:]) == ["Peace dove cushion", "Solidarity forever t-shirt"]
    assert "Unreleased union hoodie" not in titles


def test_search_within_a_collection_keeps_the_query_in_the_box(client, shelf):
    response = client.get("/shop?q=union&collection=cushions")

    soup = _soup(response)
    assert _titles(response) == ["Peace dove cushion"]
    assert soup.select_one("#shop-q")["value"] == "union"
    assert soup.select_one("#shop-in option[selected]")["value"] == "cushions"
    assert soup.h1.get_text(strip=True) == "Search results for “union” in Cushions"
    assert soup.select_one("meta[name=robots]")["content"] == "noindex"
    assert client.get("/shop?q=union&collection=hats").status_code == 404


def test_search_results_page_with_the_query_in_every_link(client, db):
    for n in range(PAGE_SIZE + 3):
        make_product(db, f"Banner tee {n:02d}", sizes="M", colours="Black")
    make_product(db, "Plain tee", sizes="M", colours="Black")

    first = client.get("/shop?q=banner")
    second = client.get("/shop?q=banner&page=2")

    assert len(_titles(first)) == PAGE_SIZE
    assert _soup(first).select_one("a[rel=next]")["href"] == "/shop?q=banner&page=2"
    assert _titles(second) == ["Banner tee 24", "Banner tee 25", "Banner tee 26"]
    assert _soup(second).select_one("a[rel=prev]")["href"] == "/shop?q=banner"
    assert _soup(second).select_one("a[rel=next]") is None


def test_no_results_suggests_the_collections(client, shelf):
    response = client.get("/shop?q=zebra+crossing")

    soup = _soup(response)
    assert response.status_code == 200
    assert soup.select(".product-card") == []
    assert soup.select_one(".no-results h2").get_text(strip=True) == "No products match “zebra crossing”"
    assert [(a.get_text(strip=True), a["href"]) for a in soup.select(".no-results .suggestions a")] == [
        ("T-shirts", "/shop?collection=t-shirts"),
        ("Cushions", "/shop?collection=cushions"),
        ("Everything in the shop", "/shop"),
    ]
    assert soup.select_one("#shop-q")["value"] == "zebra crossing"


@pytest.mark.parametrize(
    "query",
    [
        '"',
        "'",
        "*",
        "union*",
        "NEAR(union tote)",
        "a:b",
        "title:union",
        "-union",
        "union OR",
        "^union",
        "(((",
        "{union}",
        "union AND",
        "%_",
        "\\",
        "🙂",
        "é" * 500,
        "union " * 60,
        "\x00",
    ],
)
def test_queries_with_search_syntax_never_fail(client, shelf, query):
    page = client.get("/shop", params={"q": query})
    api = client.get("/api/products", params={"q": query})

    assert page.status_code == 200
    assert api.status_code == 200 and set(api.json()) == {"items", "next"}


def test_an_empty_query_is_the_plain_shop(client, shelf):
    soup = _soup(client.get("/shop?q=+++"))

    assert soup.h1.get_text(strip=True) == "The shop"
    assert len(soup.select(".product-card")) == 4


def test_the_api_searches_as_the_shop_does_with_the_contract_shape(client, db):
    for n in range(26):
        make_product(db, f"Banner tee {n:02d}", sizes="M", colours="Black")
    make_product(db, "Banner cushion", collection="cushions", sizes="45 x 45 cm", colours="Natural")

    first = client.get("/api/products?q=banner").json()
    second = client.get(first["next"]).json()
    cushions = client.get("/api/products?q=banner&collection=cushions").json()

    assert len(first["items"]) == 24 and first["next"] == "/api/products?q=banner&page=2"
    assert len(second["items"]) == 3 and second["next"] is None
    assert cushions == {"items": [client.get("/api/products/banner-cushion").json()], "next": None}
    assert client.get("/api/products?q=zebra").json() == {"items": [], "next": None}
    assert client.get("/api/products?q=banner&collection=hats").json() == {"detail": "No such collection."}


def test_the_index_follows_every_catalogue_change(client, db):
    product = make_product(
        db, "Solidarity t-shirt", slug="tee-one", tags="unions", sizes="M", colours="Black"
    )
    assert _titles(client.get("/shop?q=unions")) == ["Solidarity t-shirt"]

    # renamed, re-tagged, a new colour (a new SKU), then unpublished
    form = service.form_from_product(db, product)
    form.title, form.tags, form.colours = "Strike fund t-shirt", "picket", "Black, Ochre"
    service.save_product(db, form=form, product=product, photo_key=None)
    db.commit()

    assert _titles(client.get("/shop?q=solidarity")) == []
    assert _titles(client.get("/shop?q=unions")) == []
    assert _titles(client.get("/shop?q=strike+fund")) == ["Strike fund t-shirt"]
    assert _titles(client.get("/shop?q=picket")) == ["Strike fund t-shirt"]
    ochre = next(
        v for v in repository.variants_for(db, [product.id])[product.id] if v.options["colour"] == "Ochre"
    )
    assert _titles(client.get("/shop", params={"q": ochre.sku})) == ["Strike fund t-shirt"]

    service.set_published(db, product_id=product.id, published=False)
    db.commit()
    assert _titles(client.get("/shop?q=picket")) == []


def test_a_whole_sku_finds_its_product_in_any_case_but_never_a_draft(client, shelf):
    assert _titles(client.get("/shop?q=rrm-pay-the-nurses-t-shirt-black-m")) == ["Pay the nurses t-shirt"]
    assert _titles(client.get("/shop?q=RRM-PAY-THE-NURSES-T-SHIRT-BLACK-M&collection=cushions")) == []
    assert _titles(client.get("/shop?q=RRM-PAY-THE-NURSES-T-SHIRT-BLACK-M&page=2")) == []
    assert _titles(client.get("/shop?q=RRM-UNRELEASED-UNION-HOODIE-BLACK-M")) == []
