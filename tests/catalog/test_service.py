"""Catalogue rules: variants, SKUs, prices, what the cart may buy, margins."""

from __future__ import annotations

import pytest

from catalog import service
from catalog.models import Variant
from catalog.pricing import card_fee_estimate, margin
from store.errors import DomainError
from store.money import Money
from tests.factories import make_product


def _variants(db, product):  # type: ignore[no-untyped-def]
    from catalog import repository

    return repository.variants_for(db, [product.id])[product.id]


def test_every_size_and_colour_becomes_a_variant_with_its_own_sku_and_the_product_price(db):
    # Given staff create a t-shirt in three sizes and two colours at £25.00
    product = make_product(db, "No War t-shirt", sizes="L, S, M", colours="Black, White", price="25.00")

    # Then there are exactly six variants, sizes in shop order, each priced 2500 pence
    variants = _variants(db, product)
    assert [(v.options, v.sku, v.price_for(product), v.is_available) for v in variants] == [
        ({"size": "S", "colour": "Black"}, "RRM-NO-WAR-T-SHIRT-BLACK-S", Money(2500, "GBP"), True),
        ({"size": "M", "colour": "Black"}, "RRM-NO-WAR-T-SHIRT-BLACK-M", Money(2500, "GBP"), True),
        ({"size": "L", "colour": "Black"}, "RRM-NO-WAR-T-SHIRT-BLACK-L", Money(2500, "GBP"), True),
        ({"size": "S", "colour": "White"}, "RRM-NO-WAR-T-SHIRT-WHITE-S", Money(2500, "GBP"), True),
        ({"size": "M", "colour": "White"}, "RRM-NO-WAR-T-SHIRT-WHITE-M", Money(2500, "GBP"), True),
        ({"size": "L", "colour": "White"}, "RRM-NO-WAR-T-SHIRT-WHITE-L", Money(2500, "GBP"), True),
    ]
    assert product.price == 2500 and product.vat_rate_bp == 2000 and product.slug == "no-war-t-shirt"


def test_a_variant_override_wins_over_the_product_price(db):
    product = make_product(db, sizes="M, 3XL", colours="Black")
    variants = _variants(db, product)
    rows = {
        v.id: {
            "price_override": "27.00" if v.options["size"] == "3XL" else "",
            "provider_cost": "11.50",
            "provider_variant_id": "4012",
            "print_file_url": "https://files.example/p.png",
            "available": "1",
        }
        for v in variants
    }

    errors = service.update_variants(db, product=product, variants=variants, rows=rows)
    db.commit()

    assert errors == {}
    fresh = {v.options["size"]: v for v in _variants(db, product)}
    assert fresh["M"].price_for(product) == Money(2500)
    assert fresh["3XL"].price_for(product) == Money(2700)
    assert (fresh["3XL"].provider_cost, fresh["3XL"].provider_variant_id) == (1150, 4012)


def test_bad_variant_edits_change_nothing_and_name_the_field(db):
    product = make_product(db, sizes="M", colours="Black")
    [variant] = _variants(db, product)
    rows = {
        variant.id: {
            "price_override": "twenty",
            "provider_cost": "11.50",
            "provider_variant_id": "x1",
            "print_file_url": "ftp://nope",
            "available": "1",
        }
    }

    errors = service.update_variants(db, product=product, variants=[variant], rows=rows)

    assert set(errors) == {
        f"price_override-{variant.id}",
        f"provider_variant_id-{variant.id}",
        f"print_file_url-{variant.id}",
    }
    db.rollback()
    assert db.get(Variant, variant.id).price_override is None  # type: ignore[union-attr]


def test_dropping_a_colour_makes_its_variants_unavailable_and_adding_it_back_restores_them(db):
    product = make_product(db, sizes="S, M", colours="Black, White")
    form = service.form_from_product(db, product)
    form.colours = "Black"
    service.save_product(db, form=form, product=product, photo_key=None)
    db.commit()
    assert sorted((v.options["colour"], v.is_available) for v in _variants(db, product)) == [
        ("Black", True),
        ("Black", True),
        ("White", False),
        ("White", False),
    ]
    assert service.variant_by_sku(db, "RRM-NO-WAR-T-SHIRT-WHITE-M") is None

    form = service.form_from_product(db, product)
    assert (form.sizes, form.colours) == ("S, M", "Black")
    form.colours = "Black, White"
    service.save_product(db, form=form, product=product, photo_key=None)
    db.commit()
    assert [v.is_available for v in _variants(db, product)] == [True, True, True, True]
    assert len(_variants(db, product)) == 4  # the same SKUs, not new ones


def test_variant_by_sku_and_resolve_variant_only_sell_published_available_variants(db):
    product = make_product(db, sizes="M", colours="Black, White")
    draft = make_product(db, "Draft shirt", sizes="M", colours="Black", published=False)

    found = service.variant_by_sku(db, "RRM-NO-WAR-T-SHIRT-BLACK-M")
    assert (
        found is not None
        and found[0].id == product.id
        and found[1].options == {"size": "M", "colour": "Black"}
    )
    resolved = service.resolve_variant(
        db, product_slug="no-war-t-shirt", options={"size": "m", "colour": "white"}
    )
    assert resolved is not None and resolved[1].sku == "RRM-NO-WAR-T-SHIRT-WHITE-M"

    assert service.variant_by_sku(db, "RRM-DRAFT-SHIRT-BLACK-M") is None
    assert (
        service.resolve_variant(db, product_slug=draft.slug, options={"size": "M", "colour": "Black"}) is None
    )
    assert (
        service.resolve_variant(db, product_slug="no-war-t-shirt", options={"size": "XL", "colour": "Black"})
        is None
    )
    assert service.variant_by_sku(db, "NOPE") is None

    white = service.variant_by_sku(db, "RRM-NO-WAR-T-SHIRT-WHITE-M")
    assert white is not None
    white[1].is_available = False
    db.add(white[1])
    db.commit()
    assert service.variant_by_sku(db, "RRM-NO-WAR-T-SHIRT-WHITE-M") is None
    assert (
        service.resolve_variant(db, product_slug="no-war-t-shirt", options={"size": "M", "colour": "White"})
        is None
    )


def test_purchasable_sku_says_yes_exactly_where_variant_by_sku_finds_a_variant(db):
    make_product(db, sizes="M", colours="Black, White")
    make_product(db, "Draft shirt", sizes="M", colours="Black", published=False)
    white = service.variant_by_sku(db, "RRM-NO-WAR-T-SHIRT-WHITE-M")
    assert white is not None
    white[1].is_available = False
    db.add(white[1])
    db.commit()
    skus = ["RRM-NO-WAR-T-SHIRT-BLACK-M", "RRM-NO-WAR-T-SHIRT-WHITE-M", "RRM-DRAFT-SHIRT-BLACK-M", "NOPE"]
    answers = {sku: service.purchasable_sku(db, sku) for sku in skus}
    assert answers == {sku: sku if service.variant_by_sku(db, sku) else None for sku in skus}
    assert answers["RRM-NO-WAR-T-SHIRT-BLACK-M"] == "RRM-NO-WAR-T-SHIRT-BLACK-M"  # not vacuous


def test_product_url_and_primary_image(db):
    product = make_product(db)
    assert service.product_url(product) == "/shop/no-war-t-shirt"
    assert service.primary_image_key(db, product.id) is None
    service.add_image(db, product_id=product.id, image_key="b" * 24, alt="second", colour=None)
    service.add_image(db, product_id=product.id, image_key="c" * 24, alt="third", colour=None)
    assert service.primary_image_key(db, product.id) == "b" * 24
    third = service.add_image(db, product_id=product.id, image_key="d" * 24, alt="fourth", colour=None)
    service.make_main_image(db, product_id=product.id, image_id=third.id)
    db.flush()
    assert service.primary_image_key(db, product.id) == "d" * 24


def test_a_photo_needs_alt_text(db):
    product = make_product(db)
    with pytest.raises(DomainError) as raised:
        service.add_image(db, product_id=product.id, image_key="a" * 24, alt="  ", colour=None)
    assert raised.value.field == "alt"


def test_sku_collisions_get_a_suffix(db):
    make_product(db, "Tee", slug="tee", sizes="M", colours="Black")
    taken: set[str] = set()
    assert service.make_sku(db, slug="tee", size="M", colour="Black", taken=taken) == "RRM-TEE-BLACK-M-2"
    assert service.make_sku(db, slug="tee", size="M", colour="Black", taken=taken) == "RRM-TEE-BLACK-M-3"


@pytest.mark.no_db
def test_card_fee_and_margin_in_pence() -> None:
    # £25.00: VAT 417p (416.67), fee 1.5 % = 37.5 → 38p + 20p = 58p, provider £11.50 → 2500-417-1150-58 = 875p
    assert card_fee_estimate(Money(2500)) == Money(58)
    assert card_fee_estimate(Money(0)) == Money(0)
    assert margin(price=Money(2500), provider_cost=Money(1150), vat_rate_bp=2000) == Money(875)
    assert margin(price=Money(1000), provider_cost=Money(1000), vat_rate_bp=2000) == Money(-202)
