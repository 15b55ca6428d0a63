"""The shop through HTTP: listing, filters, pagination, the product page and its contract labels."""

from __future__ import annotations

import io
import json

from bs4 import BeautifulSoup
from fastapi import Request
from PIL import Image

from catalog import service
from catalog.shop_routes import PAGE_SIZE, render_product
from store.deps import Db
from store.media import store_image
from tests.factories import make_product


def _soup(response):  # type: ignore[no-untyped-def]
    return BeautifulSoup(response.text, "html.parser")


def _png(colour: tuple[int, int, int] = (200, 0, 0), size: int = 400) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(out, "PNG")
    return out.getvalue()


def test_shop_lists_published_products_with_price_and_link(client, db):
    make_product(db, "No War t-shirt", price="25.00")
    make_product(
        db, "Peace cushion", collection="cushions", price="30.00", sizes="45 x 45 cm", colours="Natural"
    )
    make_product(db, "Secret draft", published=False)

    soup = _soup(client.get("/shop"))

    cards = [
        (c.h3.get_text(strip=True), c.a["href"], c.select_one(".price").get_text(strip=True))
        for c in soup.select("#product-grid .product-card")
    ]
    assert cards == [
        ("No War t-shirt", "/shop/no-war-t-shirt", "£25.00"),
        ("Peace cushion", "/shop/peace-cushion", "£30.00"),
    ]


def test_collection_filter_and_sort(client, db):
    make_product(db, "Tee A", price="25.00")
    make_product(db, "Tee B", price="20.00")
    make_product(db, "Cushion", collection="cushions", price="30.00", sizes="45 x 45 cm", colours="Natural")

    tees = _soup(client.get("/shop?collection=t-shirts"))
    cushions = _soup(client.get("/shop?collection=cushions"))
    cheap_first = _soup(client.get("/shop?sort=price-low"))

    assert [h.get_text(strip=True) for h in tees.select(".product-card h3")] == ["Tee A", "Tee B"]
    assert [h.get_text(strip=True) for h in cushions.select(".product-card h3")] == ["Cushion"]
    assert [h.get_text(strip=True) for h in cheap_first.select(".product-card h3")] == [
        "Tee B",
        "Tee A",
        "Cushion",
    ]
    assert client.get("/shop?collection=hats").status_code == 404


def test_pagination_has_next_and_previous_links_and_no_empty_pages(client, db):
    for n in range(PAGE_SIZE + 2):
        make_product(db, f"Tee {n:02d}", sizes="M", colours="Black")

    first = _soup(client.get("/shop"))
    second = _soup(client.get("/shop?page=2"))

    assert len(first.select(".product-card")) == PAGE_SIZE
    assert first.select_one("a[rel=next]")["href"] == "/shop?page=2"
    assert first.select_one("a[rel=prev]") is None
    assert [h.get_text(strip=True) for h in second.select(".product-card h3")] == ["Tee 24", "Tee 25"]
    assert second.select_one("a[rel=prev]")["href"] == "/shop"
    assert second.select_one("a[rel=next]") is None
    assert client.get("/shop?page=3").status_code == 404
    assert client.get("/shop?page=0").status_code == 404
    assert client.get("/shop?page=abc").status_code == 404


def test_product_page_has_the_add_to_cart_form_the_cart_expects(client, db):
    make_product(db, "No War t-shirt", sizes="S, M, L", colours="Black, White")

    response = client.get("/shop/no-war-t-shirt?from=climate-march-london")

    assert response.status_code == 200
    soup = _soup(response)
    form = soup.select_one("form[action='/cart/add']")
    assert form["method"] == "post"

    def labelled(text: str):  # type: ignore[no-untyped-def]
        label = form.find("label", string=text)
        return form.find(id=label["for"])

    assert form.select_one("input[name=csrf_token]")["value"] not in ("", "__RRM_CSRF_TOKEN__")
    assert form.select_one("input[name=product]")["value"] == "no-war-t-shirt"
    assert form.select_one("input[name=from]")["value"] == "climate-march-london"
    assert labelled("Size")["name"] == "size"
    assert [o["value"] for o in labelled("Size").find_all("option")] == ["S", "M", "L"]
    assert labelled("Colour")["name"] == "colour"
    assert [o["value"] for o in labelled("Colour").find_all("option")] == ["Black", "White"]
    quantity = labelled("Quantity")
    assert (quantity["name"], quantity["type"], quantity["min"], quantity["max"], quantity["value"]) == (
        "quantity",
        "number",
        "1",
        "20",
        "1",
    )
    assert form.find("button", string="Add to cart")["type"] == "submit"
    assert soup.select_one("#price").get_text(" ", strip=True) == "£25.00 incl. VAT"
    # the article link only goes in when it looks like a slug
    bad = _soup(client.get('/shop/no-war-t-shirt?from="><script>'))
    assert bad.select_one("form[action='/cart/add'] input[name=from]") is None


def test_cached_product_page_still_gets_each_visitors_own_csrf_token(client, app, db):
    from fastapi.testclient import TestClient

    make_product(db)
    first = _soup(client.get("/shop/no-war-t-shirt")).select_one("input[name=csrf_token]")["value"]
    with TestClient(app) as other:
        second = _soup(other.get("/shop/no-war-t-shirt")).select_one("input[name=csrf_token]")["value"]
    assert first != second


def test_choosing_size_and_colour_without_javascript_shows_that_variants_price_and_photo(client, db):
    product = make_product(db, sizes="M, 3XL", colours="Black, White")
    variants = {
        (v.options["size"], v.options["colour"]): v
        for v in __import__("catalog.repository", fromlist=["x"]).variants_for(db, [product.id])[product.id]
    }
    rows = {
        v.id: {
            "price_override": "27.00" if size == "3XL" else "",
            "provider_cost": "11.50",
            "available": "" if (size, colour) == ("M", "White") else "1",
        }
        for (size, colour), v in variants.items()
    }
    service.update_variants(db, product=product, variants=list(variants.values()), rows=rows)
    white = store_image(_png((250, 250, 250)), field="photo").key
    black = store_image(_png((10, 10, 10)), field="photo").key
    service.add_image(db, product_id=product.id, image_key=black, alt="Black shirt", colour="Black")
    service.add_image(db, product_id=product.id, image_key=white, alt="White shirt", colour="White")
    db.commit()

    big_white = _soup(client.get("/shop/no-war-t-shirt?size=3XL&colour=White"))
    sold_out = _soup(client.get("/shop/no-war-t-shirt?size=M&colour=White"))
    fragment = _soup(
        client.get("/shop/no-war-t-shirt/choice?size=3XL&colour=Black", headers={"HX-Request": "true"})
    )

    assert big_white.select_one("#price").get_text(" ", strip=True) == "£27.00 incl. VAT"
    assert big_white.select_one("#main-photo")["alt"] == "White shirt"
    assert big_white.select_one("#pick-size option[selected]")["value"] == "3XL"
    assert (
        sold_out.select_one(".choice .unavailable")
        .get_text(strip=True)
        .startswith("M in White isn't available")
    )
    assert sold_out.select_one(".unavailable-list").get_text(strip=True) == "Not available: M in White."
    assert fragment.select_one("#price").get_text(" ", strip=True) == "£27.00 incl. VAT"
    assert fragment.select_one("#main-photo")["alt"] == "Black shirt"


def test_product_page_has_json_ld_offers_and_open_graph(client, db):
    product = make_product(db, sizes="M", colours="Black, White")
    key = store_image(_png(), field="photo").key
    service.add_image(db, product_id=product.id, image_key=key, alt="The shirt", colour=None)
    db.commit()

    soup = _soup(client.get("/shop/no-war-t-shirt"))

    data = json.loads(soup.select_one("script[type='application/ld+json']").string)
    assert data["@type"] == "Product" and data["name"] == "No War t-shirt"
    assert [(o["sku"], o["price"], o["priceCurrency"], o["availability"]) for o in data["offers"]] == [
        ("RRM-NO-WAR-T-SHIRT-BLACK-M", "25.00", "GBP", "https://schema.org/InStock"),
        ("RRM-NO-WAR-T-SHIRT-WHITE-M", "25.00", "GBP", "https://schema.org/InStock"),
    ]
    og = {m["property"]: m["content"] for m in soup.select("meta[property]")}
    assert og["og:type"] == "product"
    assert og["og:title"] == "No War t-shirt"
    assert og["og:url"] == "http://testserver/shop/no-war-t-shirt"
    assert og["og:image"] == f"http://testserver/media/{key}-1200.webp"
    assert og["product:price:amount"] == "25.00"


def test_unknown_product_is_a_404_page(client):
    response = client.get("/shop/no-such-thing")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert _soup(response).h1.get_text(strip=True) == "Page not found"


def test_drafts_are_invisible_to_shoppers_but_staff_may_preview(client, db, login_as):
    make_product(db, "Secret draft", published=False)

    assert client.get("/shop/secret-draft").status_code == 404
    assert "Secret draft" not in client.get("/shop").text

    login_as("catalogue")
    preview = client.get("/shop/secret-draft")
    assert preview.status_code == 200
    assert _soup(preview).select_one(".notice").get_text(strip=True) == "Draft: only staff can see this page."


def test_a_change_to_the_catalogue_shows_at_once_despite_the_cache(client, db):
    product = make_product(db, "No War t-shirt", price="25.00")
    assert _soup(client.get("/shop")).select_one(".product-card .price").get_text(strip=True) == "£25.00"
    assert (
        _soup(client.get("/shop/no-war-t-shirt")).select_one("#price").get_text(" ", strip=True)
        == "£25.00 incl. VAT"
    )

    # When the price changes and the change is committed
    product.price = 2200
    db.add(product)
    db.commit()

    assert _soup(client.get("/shop")).select_one(".product-card .price").get_text(strip=True) == "£22.00"
    assert (
        _soup(client.get("/shop/no-war-t-shirt")).select_one("#price").get_text(" ", strip=True)
        == "£22.00 incl. VAT"
    )
    # and unpublishing takes it off the shop at once
    service.set_published(db, product_id=product.id, published=False)
    db.commit()
    assert client.get("/shop/no-war-t-shirt").status_code == 404
    assert _soup(client.get("/shop")).select(".product-card") == []


def test_a_rolled_back_change_does_not_bump_the_cache(db):
    from store import cache

    product = make_product(db)
    before = cache.version("catalogue")
    product.price = 1
    db.add(product)
    db.flush()
    db.rollback()
    assert cache.version("catalogue") == before


def test_shop_page_queries_do_not_grow_with_the_number_of_products(client, db, count_queries):
    # Given 24 published products, each with photos and several variants
    service.ensure_collections(db)
    for n in range(PAGE_SIZE):
        product = make_product(db, f"Tee {n:02d}", sizes="S, M", colours="Black, White")
        service.add_image(db, product_id=product.id, image_key=f"{n:024d}", alt=f"Tee {n}", colour=None)
        service.add_image(
            db, product_id=product.id, image_key=f"{n + 100:024d}", alt=f"Tee {n} back", colour=None
        )
    db.commit()
    from store import cache

    cache.backend().clear()
    count_queries.clear()

    # When a shopper opens /shop (uncached) and the API list
    response = client.get("/shop")
    shop_queries = len(count_queries)
    count_queries.clear()
    api = client.get("/api/products")
    api_queries = len(count_queries)

    # Then a small constant number of statements ran: collection list, products, their main photos
    assert response.status_code == 200 and len(_soup(response).select(".product-card img")) == PAGE_SIZE
    assert shop_queries == 3
    assert api.status_code == 200 and len(api.json()["items"]) == PAGE_SIZE
    assert api_queries == 4  # products, variants, images, collections

    # and a cached page does not touch the database at all (the per-visitor parts need none)
    count_queries.clear()
    client.get("/shop")
    client.get("/shop/tee-00")
    client.get("/shop/tee-00")
    # the first product view only: product, variants, images, its collection, collections (search box)
    assert len(count_queries) == 5


def test_product_photos_are_cached_for_a_year_with_an_etag(client):
    key = store_image(_png(), field="photo").key
    response = client.get(f"/media/{key}-320.webp")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    etag = response.headers["etag"]
    again = client.get(f"/media/{key}-320.webp", headers={"If-None-Match": etag})
    assert again.status_code == 304


def test_product_cards_offer_every_photo_width_for_their_slot(client, db):
    product = make_product(db, "No War t-shirt")
    key = store_image(_png(), field="photo").key
    service.add_image(db, product_id=product.id, image_key=key, alt="The shirt", colour=None)
    db.commit()

    img = _soup(client.get("/shop")).select_one(".product-card img")

    assert img["src"] == f"/media/{key}-320.webp"
    # a card is at most ~260 px wide: 320 and 640 pixel photos cover it up to 2x screens
    assert img["srcset"] == f"/media/{key}-320.webp 320w, /media/{key}-640.webp 640w"
    assert img["sizes"] == "(min-width: 1180px) 220px, (min-width: 700px) 30vw, 50vw"
    assert (img["width"], img["height"], img["loading"]) == ("320", "320", "lazy")


def test_render_product_keeps_the_shoppers_choice_and_puts_each_error_by_its_field(app, client, db):
    # render_product is what the cart calls when "Add to cart" fails (CONTRACT: 422, values kept)
    product = make_product(db, "No War t-shirt", sizes="S, M, L", colours="Black, White")

    def failed_add(request: Request, db: Db):  # type: ignore[no-untyped-def]
        return render_product(
            request,
            db,
            product,
            values={"size": "L", "colour": "White", "quantity": "25", "from": "climate-march-london"},
            errors={"quantity": "Choose a quantity from 1 to 20.", "add": "Please check the quantity."},
            status_code=422,
        )

    app.add_api_route("/test/failed-add", failed_add, methods=["GET"])

    response = client.get("/test/failed-add")

    form = _soup(response).select_one("form[action='/cart/add']")
    quantity = form.select_one("#pick-quantity")
    assert response.status_code == 422
    assert (quantity["value"], quantity["aria-invalid"], quantity["aria-describedby"]) == (
        "25",
        "true",
        "pick-quantity-error",
    )
    assert form.select_one("#pick-quantity-error").get_text(strip=True) == "Choose a quantity from 1 to 20."
    assert form.select_one("p.error[role=alert]").get_text(strip=True) == "Please check the quantity."
    assert form.select_one("#pick-size option[selected]")["value"] == "L"
    assert form.select_one("#pick-colour option[selected]")["value"] == "White"
    assert form.select_one("input[name=from]")["value"] == "climate-march-london"
    assert form.select_one("#pick-size").get("aria-invalid") is None
    # and the plain page other shoppers get has none of it
    plain = _soup(client.get("/shop/no-war-t-shirt")).select_one("form[action='/cart/add']")
    assert plain.select_one("#pick-quantity")["value"] == "1" and plain.select_one(".error") is None
