"""GET /api/products and /api/products/{slug} exactly as CONTRACT.md shapes them."""

from __future__ import annotations

from catalog import repository, service
from tests.factories import make_product


def test_product_json_has_the_contract_shape_with_money_objects(client, db):
    product = make_product(db, "No War t-shirt", sizes="M, 3XL", colours="Black")
    variants = repository.variants_for(db, [product.id])[product.id]
    big = next(v for v in variants if v.options["size"] == "3XL")
    service.update_variants(
        db,
        product=product,
        variants=variants,
        rows={
            v.id: {"price_override": "27.00" if v is big else "", "provider_cost": "11.50", "available": "1"}
            for v in variants
        },
    )
    service.add_image(db, product_id=product.id, image_key="a" * 24, alt="Front", colour=None)
    db.commit()

    response = client.get("/api/products/no-war-t-shirt")

    assert response.status_code == 200
    assert response.json() == {
        "slug": "no-war-t-shirt",
        "title": "No War t-shirt",
        "collection": "t-shirts",
        "url": "/shop/no-war-t-shirt",
        "images": [f"/media/{'a' * 24}-1200.webp"],
        "price": {"amount": 2500, "currency": "GBP"},
        "variants": [
            {
                "sku": "RRM-NO-WAR-T-SHIRT-BLACK-M",
                "options": {"size": "M", "colour": "Black"},
                "price": {"amount": 2500, "currency": "GBP"},
                "available": True,
            },
            {
                "sku": "RRM-NO-WAR-T-SHIRT-BLACK-3XL",
                "options": {"size": "3XL", "colour": "Black"},
                "price": {"amount": 2700, "currency": "GBP"},
                "available": True,
            },
        ],
    }


def test_list_pages_with_next_url_and_collection_filter(client, db):
    for n in range(26):
        make_product(db, f"Tee {n:02d}", sizes="M", colours="Black")
    make_product(db, "Cushion", collection="cushions", sizes="45 x 45 cm", colours="Natural")

    first = client.get("/api/products").json()
    second = client.get(first["next"]).json()
    cushions = client.get("/api/products?collection=cushions").json()

    assert [p["slug"] for p in first["items"]][:2] == ["tee-00", "tee-01"]
    assert len(first["items"]) == 24 and first["next"] == "/api/products?page=2"
    assert [p["slug"] for p in second["items"]] == ["tee-24", "tee-25", "cushion"]
    assert second["next"] is None
    assert cushions == {"items": [client.get("/api/products/cushion").json()], "next": None}


def test_unknown_slug_and_drafts_are_404_json(client, db):
    make_product(db, "Secret draft", published=False)

    for path in ("/api/products/nope", "/api/products/secret-draft"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.json() == {"detail": "No such product."}
    assert client.get("/api/products").json() == {"items": [], "next": None}
    assert client.get("/api/products?collection=hats").json() == {"detail": "No such collection."}
    bad = client.get("/api/products?page=-1")
    assert (bad.status_code, bad.json()) == (422, {"detail": "page must be a whole number from 1"})
