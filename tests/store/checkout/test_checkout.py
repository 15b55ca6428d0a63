"""/checkout over HTTP: validation per country, the pending order frozen from the catalogue, discounts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from store.cart.models import Cart
from store.checkout.models import Discount, DiscountUse, ShippingZone
from store.news.models import Article
from store.order.models import Order, OrderEvent, OrderLine
from store.timeutil import utcnow
from tests.conftest import csrf_from, soup
from tests.factories import ADDRESS, add, checkout, make_product, sku_of


def orders(db) -> list[Order]:  # type: ignore[no-untyped-def]
    db.rollback()
    found = list(db.exec(select(Order)).all())
    db.rollback()
    return found


def lines_of(db, order: Order) -> list[OrderLine]:  # type: ignore[no-untyped-def]
    db.rollback()
    found = list(
        db.exec(select(OrderLine).where(OrderLine.order_id == order.id).order_by(OrderLine.id)).all()
    )
    db.rollback()
    return found


def add_discount(db, **fields) -> Discount:  # type: ignore[no-untyped-def]
    discount = Discount(**fields)
    db.add(discount)
    db.commit()
    return discount


def apply_code(client, code: str, next_page: str = "/cart"):  # type: ignore[no-untyped-def]
    token = csrf_from(client.get(next_page).text)
    return client.post(
        "/cart/discount",
        data={"csrf_token": token, "discount_code": code, "next": next_page},
        follow_redirects=False,
    )


@pytest.fixture
def mixed_cart(client, db):  # type: ignore[no-untyped-def]
    shirt = make_product(db, "No War t-shirt", price="25.00", colours="Black")
    cushion = make_product(
        db, "Solidarity cushion", price="19.99", collection="cushions", sizes="45 x 45 cm", colours="Natural"
    )
    add(client, sku_of(db, shirt, "M"), 2)
    add(client, sku_of(db, shirt, "L"), 1)
    add(client, sku_of(db, cushion, "45 x 45 cm", "Natural"), 1)
    return shirt, cushion


def test_mixed_cart_with_discount_and_europe_delivery_freezes_exact_pence(client, db, mixed_cart) -> None:  # type: ignore[no-untyped-def]
    # given goods of 3 × £25.00 + £19.99 = £94.99, 10 % off with a £50 minimum, delivery to France
    add_discount(db, code="SOLIDARITY10", percent_off=10, min_spend=5000, usage_limit=5)
    assert apply_code(client, "solidarity10").status_code == 303
    # when the shopper continues to payment
    r = checkout(client, country="FR", postcode="75011")
    # then one pending order with every figure frozen
    assert (r.status_code, r.headers["location"]) == (303, "/checkout/pay")
    [order] = orders(db)
    assert order.status == "pending_payment"
    assert order.subtotal == 9499
    assert order.discount_code == "SOLIDARITY10"
    assert order.discount_amount == 950  # 949.9 half up
    assert (order.shipping_name, order.shipping_amount, order.shipping_vat_amount) == (
        "Europe delivery",
        799,
        133,
    )
    assert order.total == 9499 - 950 + 799 == 9348
    lines = lines_of(db, order)
    assert [(ln.quantity, ln.unit_price, ln.discount_amount, ln.line_total) for ln in lines] == [
        (2, 2500, 500, 4500),
        (1, 2500, 250, 2250),
        (1, 1999, 200, 1799),
    ]
    assert [(ln.vat_rate_bp, ln.vat_amount) for ln in lines] == [(2000, 750), (2000, 375), (2000, 300)]
    assert sum(ln.line_total for ln in lines) + order.shipping_amount == order.total
    assert order.vat_amount == 750 + 375 + 300 + 133
    db.rollback()
    assert db.exec(select(Discount.uses)).one() == 1
    # and the payment step shows the exact amount on the Pay button
    page = soup(client.get("/checkout/pay").text)
    assert page.find("button", string="Pay £93.48") is not None
    assert page.find("input", attrs={"name": "amount"})["value"] == "9348"


def test_summary_on_checkout_page_shows_lines_vat_and_total(client, db, mixed_cart) -> None:  # type: ignore[no-untyped-def]
    page = soup(client.get("/checkout").text)
    for label in (
        "Email",
        "Full name",
        "Address line 1",
        "Address line 2",
        "Town or city",
        "Postcode",
        "Country",
    ):
        assert page.find("label", string=label) is not None, label
    assert page.find("button", string="Continue to payment") is not None
    assert page.find("label", string="Discount code") is not None
    assert page.find("button", string="Apply") is not None
    assert page.select_one('[data-amount="total"]')["data-pence"] == str(9499 + 399)
    assert page.select_one('[data-amount="vat"]').get_text() == "£16.50"  # 1583.17→ lines 1250+333 + 67


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("postcode", "NOT A CODE", "Enter a real UK postcode, like SW1A 1AA."),
        ("postcode", "", "Enter a real UK postcode, like SW1A 1AA."),
        (
            "email",
            "not-an-email",
            "Enter an email address like name@example.com, so we can send your receipt.",
        ),
        ("email", "ada..lovelace@example.org", "Enter an email address like name@example.com, so we can send your receipt."),
        ("email", "ada@example.org.", "Enter an email address like name@example.com, so we can send your receipt."),
        ("email", "ada@example", "Enter an email address like name@example.com, so we can send your receipt."),
        ("email", "Ada <ada@example.org>", "Enter an email address like name@example.com, so we can send your receipt."),
        ("email", "ada@localhost", "Enter an email address like name@example.com, so we can send your receipt."),
        ("full_name", "", "Enter the name of the person we are delivering to."),
        ("address_line1", "", "Enter the first line of the address."),
        ("town", "", "Enter the town or city."),
        ("country", "XX", "Choose a country from the list."),
    ],
)
def test_bad_details_are_refused_with_the_error_beside_the_field(
    client, db, mixed_cart, field, value, message
) -> None:  # type: ignore[no-untyped-def]
    r = checkout(client, **{field: value})
    assert r.status_code == 422
    page = soup(r.text)
    assert page.select_one(f"#f-{field}-error").get_text() == message
    # the other values are kept
    kept = "town" if field != "town" else "full_name"
    assert page.select_one(f"#f-{kept}")["value"] == ADDRESS[kept]
    assert orders(db) == []


def test_addresses_people_really_have_are_accepted(client, db, mixed_cart) -> None:  # type: ignore[no-untyped-def]
    assert checkout(client, email="o'brien@example.org").status_code == 303
    assert checkout(client, email="zoë.ćosić@example.co.uk").status_code == 303
    assert orders(db)[0].email == "zoë.ćosić@example.co.uk"


def test_postcodes_are_checked_per_country(client, db, mixed_cart) -> None:  # type: ignore[no-untyped-def]
    assert checkout(client, country="US", postcode="ABC").status_code == 422
    assert checkout(client, country="DE", postcode="1234").status_code == 422
    assert checkout(client, country="IE", postcode="").status_code == 303  # Eircode optional
    [order] = orders(db)
    assert (order.country, order.shipping_amount) == ("IE", 799)


def test_uk_postcode_is_normalised(client, db, mixed_cart) -> None:  # type: ignore[no-untyped-def]
    assert checkout(client, postcode="sw1a1aa").status_code == 303
    assert orders(db)[0].postcode == "SW1A 1AA"


def test_continue_twice_updates_the_same_pending_order(client, db, mixed_cart) -> None:  # type: ignore[no-untyped-def]
    checkout(client)
    checkout(client, country="US", postcode="10001", town="New York")
    [order] = orders(db)
    assert (order.country, order.shipping_amount, order.total) == ("US", 1299, 9499 + 1299)
    assert len(lines_of(db, order)) == 3
    db.rollback()
    events = db.exec(select(OrderEvent).where(OrderEvent.order_id == order.id)).all()
    assert len(events) == 1


def test_cart_change_after_placing_sends_the_shopper_back_to_checkout(client, db, mixed_cart) -> None:  # type: ignore[no-untyped-def]
    shirt, _ = mixed_cart
    checkout(client)
    add(client, sku_of(db, shirt, "S"), 1)
    r = client.get("/checkout/pay", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/checkout")
    checkout(client)
    [order] = orders(db)
    assert order.subtotal == 9499 + 2500


def test_owner_rates_are_used(client, db, mixed_cart) -> None:  # type: ignore[no-untyped-def]
    db.add(ShippingZone(code="uk", rate=450))
    db.commit()
    checkout(client)
    assert orders(db)[0].shipping_amount == 450


def test_attribution_article_is_copied_to_the_order(client, db) -> None:  # type: ignore[no-untyped-def]
    article = Article(slug="raqqa", title="Raqqa")
    db.add(article)
    db.commit()
    add(client, sku_of(db, make_product(db, colours="Black")), 1, **{"from": "raqqa"})
    checkout(client)
    assert orders(db)[0].attribution_article_id == article.id


def test_round_up_adds_a_donation_line_without_vat(client, db) -> None:  # type: ignore[no-untyped-def]
    add(client, sku_of(db, make_product(db, price="25.00", colours="Black")), 1)
    checkout(client, round_up="1")
    [order] = orders(db)
    assert order.total == 2900  # 2500 + 399 = 2899, rounded up
    donation = [ln for ln in lines_of(db, order) if ln.kind == "donation"]
    assert [(d.line_total, d.vat_amount) for d in donation] == [(1, 0)]
    assert order.vat_amount == 417 + 67


def test_empty_cart_checkout_goes_back_to_the_cart(client, db) -> None:  # type: ignore[no-untyped-def]
    r = client.get("/checkout", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/cart")


# --- discounts -----------------------------------------------------------------------------------


def test_expired_unknown_minimum_and_used_up_codes_are_refused(client, db, mixed_cart) -> None:  # type: ignore[no-untyped-def]
    add_discount(db, code="OLD", percent_off=10, expires_at=utcnow() - timedelta(minutes=1))
    add_discount(db, code="BIGSPEND", amount_off=500, min_spend=10000)
    add_discount(db, code="GONE", percent_off=10, usage_limit=2, uses=2)
    cases = {
        "OLD": "That discount code has expired.",
        "NOPE": "We don't recognise that discount code.",
        "BIGSPEND": "That code needs a spend of at least £100.00 before delivery.",
        "GONE": "That discount code has been used up.",
    }
    for code, message in cases.items():
        r = apply_code(client, code)
        assert r.status_code == 422
        assert soup(r.text).select_one("#f-discount_code-error").get_text() == message
    db.rollback()
    assert db.exec(select(Cart.discount_code)).one() is None


def test_code_applied_on_checkout_page(client, db, mixed_cart) -> None:  # type: ignore[no-untyped-def]
    add_discount(db, code="FIVER", amount_off=500)
    r = apply_code(client, "fiver", "/checkout")
    assert (r.status_code, r.headers["location"]) == (303, "/checkout")
    page = soup(client.get("/checkout").text)
    assert page.select_one('[data-amount="discount"]').get_text() == "−£5.00"
    assert page.select_one('[data-amount="total"]')["data-pence"] == str(9499 - 500 + 399)


def test_last_use_taken_between_apply_and_continue_is_refused_and_removed(client, db, mixed_cart) -> None:  # type: ignore[no-untyped-def]
    discount = add_discount(db, code="LAST", percent_off=10, usage_limit=1)
    apply_code(client, "LAST")
    discount.uses = 1  # someone else placed an order with it meanwhile
    db.add(discount)
    db.commit()
    r = checkout(client)
    assert r.status_code == 422
    assert (
        soup(r.text).select_one("#f-discount_code-error").get_text() == "That discount code has been used up."
    )
    assert orders(db) == []


def test_changing_country_keeps_one_use_and_removing_the_code_releases_it(client, db, mixed_cart) -> None:  # type: ignore[no-untyped-def]
    add_discount(db, code="ONE", percent_off=10, usage_limit=3)
    apply_code(client, "ONE")
    checkout(client)
    checkout(client, country="FR", postcode="75011")
    db.rollback()
    assert db.exec(select(Discount.uses)).one() == 1
    token = csrf_from(client.get("/cart").text)
    client.post("/cart/discount/remove", data={"csrf_token": token})
    checkout(client)
    db.rollback()
    assert db.exec(select(Discount.uses)).one() == 0
    assert db.exec(select(DiscountUse)).all() == []
    assert orders(db)[0].discount_amount == 0


def test_release_on_cancel_gives_the_use_back_once(client, db, mixed_cart) -> None:  # type: ignore[no-untyped-def]
    from store.checkout.discounts import release

    add_discount(db, code="ONE", percent_off=10, usage_limit=1)
    apply_code(client, "ONE")
    checkout(client)
    [order] = orders(db)
    assert release(db, order=order) is True
    assert release(db, order=order) is False
    db.commit()
    assert db.exec(select(Discount.uses)).one() == 0


def test_no_csrf_on_checkout_is_403(client, db, mixed_cart) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/checkout", data=ADDRESS, follow_redirects=False)
    assert r.status_code == 403
    assert orders(db) == []
