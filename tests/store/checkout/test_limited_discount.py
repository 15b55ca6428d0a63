"""Issue 15.1: a discount code with a usage limit, through the pages a shopper and the owner use.

The owner makes the code at /staff/discounts; the shopper applies it on /cart, continues to payment
and pays with localstripe. The order's own held use must never count against it (cart, checkout,
payment page, re-submitting the checkout, the amount charged); two shoppers racing for the last use
are the HTTP race in test_discount_race.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from store.checkout.models import Discount, DiscountUse
from store.order.models import Order
from tests.conftest import csrf_from, soup
from tests.factories import add, apply_discount, checkout, make_product, pay_by_card, sku_of
from tests.fakes.localstripe import list_payment_intents

PAID = {"paid", "submitted"}


@pytest.fixture
def shop(stripe_env: str, client):  # type: ignore[no-untyped-def]
    """A test client for an app that talks to this module's localstripe."""
    return client


def owner_creates_code(client: Any, login_as: Any, *, code: str, percent: str, limit: str) -> None:
    login_as("owner")
    token = csrf_from(client.get("/staff/discounts").text)
    r = client.post(
        "/staff/discounts",
        data={"csrf_token": token, "code": code, "kind": "percent", "percent_off": percent, "usage_limit": limit},
        follow_redirects=False,
    )
    assert (r.status_code, r.headers["location"]) == (303, "/staff/discounts")


def pay_button(shopper: Any) -> str:
    r = shopper.get("/checkout/pay", follow_redirects=False)
    assert r.status_code == 200, (r.status_code, r.headers.get("location"))
    button = soup(r.text).select_one("button.pay-button")
    assert button is not None
    return button.get_text(strip=True)


def discount_error(html: str) -> str | None:
    found = soup(html).select_one("#f-discount_code-error")
    return found.get_text(strip=True) if found else None


def test_a_lone_shopper_gets_a_single_use_code_and_pays_the_discounted_total(
    shop, app, db, login_as, stripe_env
) -> None:  # type: ignore[no-untyped-def]
    # given the owner's code: 10 % off, usage limit 1
    owner_creates_code(shop, login_as, code="ONCE10", percent="10", limit="1")
    sku = sku_of(db, make_product(db, price="25.00"))
    with TestClient(app, raise_server_exceptions=False) as shopper:
        add(shopper, sku, 1)
        # when the shopper applies it on /cart
        applied = apply_discount(shopper, "once10")
        assert (applied.status_code, applied.headers["location"]) == (303, "/cart")
        cart = soup(shopper.get("/cart").text)
        assert cart.select_one("#f-discount_code-error") is None
        # and continues to payment
        r = checkout(shopper)
        assert (r.status_code, r.headers["location"]) == (303, "/checkout/pay")
        # then the payment page offers the discounted total: £25.00 − £2.50 + £3.99 delivery
        assert pay_button(shopper) == "Pay £26.49"
        # and the cart and checkout pages still show the code applied, with no error
        assert discount_error(shopper.get("/cart").text) is None
        checkout_html = shopper.get("/checkout").text
        assert discount_error(checkout_html) is None
        assert "That discount code has been used up." not in checkout_html
        # re-submitting the checkout (a changed address, say) keeps the order's own use
        r = checkout(shopper)
        assert (r.status_code, r.headers["location"]) == (303, "/checkout/pay")
        assert pay_button(shopper) == "Pay £26.49"
        # when the shopper pays
        answer = pay_by_card(shopper, stripe_env)
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "succeeded"
    # then one paid order for the discounted total, charged exactly that, and the code used once
    db.rollback()
    [order] = db.exec(select(Order)).all()
    assert (order.status in PAID, order.discount_code, order.discount_amount, order.total) == (
        True,
        "ONCE10",
        250,
        2649,
    )
    [intent] = list_payment_intents(stripe_env)
    assert (intent["amount"], intent["status"]) == (2649, "succeeded")
    assert db.exec(select(Discount.uses).where(Discount.code == "ONCE10")).one() == 1
    assert len(db.exec(select(DiscountUse)).all()) == 1


def test_a_used_up_code_is_refused_to_the_next_shopper_on_the_cart(shop, app, db, login_as, stripe_env) -> None:  # type: ignore[no-untyped-def]
    # given a single-use code already used by a paid order
    owner_creates_code(shop, login_as, code="ONCE10", percent="10", limit="1")
    sku = sku_of(db, make_product(db, price="25.00"))
    with TestClient(app, raise_server_exceptions=False) as first:
        add(first, sku, 1)
        apply_discount(first, "ONCE10")
        checkout(first)
        assert pay_by_card(first, stripe_env).json()["status"] == "succeeded"
    # when another shopper tries it
    with TestClient(app, raise_server_exceptions=False) as second:
        add(second, sku, 1)
        r = apply_discount(second, "ONCE10")
        # then 422 with the message next to "Discount code", and the code kept in the field
        assert r.status_code == 422
        assert discount_error(r.text) == "That discount code has been used up."
        assert soup(r.text).select_one("#f-discount_code")["value"] == "ONCE10"
