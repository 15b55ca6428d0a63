"""A shopper buys in headless Chromium against localstripe: product page → cart → checkout → card.

Good card, 3-D Secure with the challenge completed, a decline leaving no paid order, and a double
click on Pay making exactly one charge (PaymentIntents counted in localstripe).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlmodel import select

from store.order.models import Order
from tests.factories import make_product
from tests.fakes.localstripe import CARD_3DS, CARD_DECLINED, CARD_SUCCEEDS, list_payment_intents

pytestmark = pytest.mark.browser

PAID = {"paid", "submitted"}


@pytest.fixture
def shop(stripe_env: str, db, live_server) -> Any:  # type: ignore[no-untyped-def]
    make_product(db, "No War t-shirt", price="25.00", sizes="S, M, L", colours="Black, White")
    return live_server


def watch_errors(page: Any) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    def on_console(msg: Any) -> None:
        url = str(msg.location.get("url", ""))
        if msg.type == "error":
            errors.append(f"{msg.text} {url}")

    page.on("console", on_console)
    return errors


def to_payment(page: Any, base: str) -> None:
    """Product page → cart (2 shirts) → checkout details → the payment step."""
    page.goto(f"{base}/shop/no-war-t-shirt")
    page.get_by_label("Size").select_option("M")
    page.get_by_label("Colour").select_option("Black")
    page.get_by_label("Quantity").fill("2")
    page.get_by_role("button", name="Add to cart").click()
    page.wait_for_url(f"{base}/cart")
    assert page.locator(".cart-count").inner_text() == "2"
    page.get_by_role("link", name="Checkout").click()
    page.wait_for_url(f"{base}/checkout")
    page.get_by_label("Email").fill("ada@example.org")
    page.get_by_label("Full name").fill("Ada Lovelace")
    page.get_by_label("Address line 1").fill("12 Marsh Lane")
    page.get_by_label("Town or city").fill("Leeds")
    page.get_by_label("Postcode").fill("LS1 4AP")
    page.get_by_label("Country").select_option("GB")
    page.get_by_role("button", name="Continue to payment").click()
    page.wait_for_url(f"{base}/checkout/pay")
    page.get_by_placeholder("number").wait_for()


def fill_card(page: Any, number: str) -> None:
    page.get_by_placeholder("number").fill(number)
    page.get_by_placeholder("exp_month").fill("12")
    page.get_by_placeholder("exp_year").fill("34")
    page.get_by_placeholder("cvc").fill("123")
    page.get_by_placeholder("postal_code").fill("LS1 4AP")


def the_order(db) -> Order:  # type: ignore[no-untyped-def]
    db.rollback()
    order = db.exec(select(Order)).one()
    db.rollback()
    return order


def test_purchase_with_4242_reaches_thank_you(page, shop, db, stripe_env) -> None:  # type: ignore[no-untyped-def]
    errors = watch_errors(page)
    to_payment(page, shop.url)
    assert "Test mode" in page.locator(".test-mode-notice").inner_text()
    fill_card(page, CARD_SUCCEEDS)
    started = time.perf_counter()
    page.get_by_role("button", name="Pay £53.99").click()
    page.wait_for_url(f"{shop.url}/checkout/complete/*")
    heading = page.get_by_role("heading", level=1).inner_text()
    elapsed = time.perf_counter() - started
    order = the_order(db)
    assert heading == f"Thank you for your order {order.number}"
    assert order.status in PAID and order.total == 5399
    assert [(i["amount"], i["status"]) for i in list_payment_intents(stripe_env)] == [(5399, "succeeded")]
    assert page.locator(".cart-count").inner_text() == "0"
    assert errors == []
    print(f"\nPay click → Thank you: {elapsed * 1000:.0f} ms")


def test_3ds_purchase_completes_the_challenge(page, shop, db, stripe_env) -> None:  # type: ignore[no-untyped-def]
    errors = watch_errors(page)
    to_payment(page, shop.url)
    fill_card(page, CARD_3DS)
    page.get_by_role("button", name="Pay £53.99").click()
    # localstripe challenges twice for this card: the card set-up, then the payment.
    page.get_by_role("button", name="Complete authentication").click()
    page.get_by_role("button", name="Complete authentication").click()
    page.wait_for_url(f"{shop.url}/checkout/complete/*")
    order = the_order(db)
    assert page.get_by_role("heading", level=1).inner_text() == f"Thank you for your order {order.number}"
    assert order.status in PAID
    assert [i["status"] for i in list_payment_intents(stripe_env)] == ["succeeded"]
    assert errors == []


def test_declined_card_leaves_no_paid_order_and_the_cart_intact(page, shop, db, stripe_env) -> None:  # type: ignore[no-untyped-def]
    to_payment(page, shop.url)
    fill_card(page, CARD_DECLINED)
    button = page.get_by_role("button", name="Pay £53.99")
    button.click()
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert alert.inner_text() == "Your card was declined. Please try another card or contact your bank."
    assert button.is_enabled()
    assert page.url == f"{shop.url}/checkout/pay"
    assert the_order(db).status == "pending_payment"
    db.rollback()
    assert db.exec(select(Order).where(Order.status != "pending_payment")).all() == []
    assert [i["status"] for i in list_payment_intents(stripe_env)] == ["requires_payment_method"]
    page.goto(f"{shop.url}/cart")
    assert page.locator(".cart-count").inner_text() == "2"


def test_double_click_on_pay_charges_once(page, shop, db, stripe_env) -> None:  # type: ignore[no-untyped-def]
    to_payment(page, shop.url)
    fill_card(page, CARD_SUCCEEDS)
    page.get_by_role("button", name="Pay £53.99").dblclick()
    page.wait_for_url(f"{shop.url}/checkout/complete/*")
    time.sleep(0.5)  # let any second request finish before counting
    assert len(list_payment_intents(stripe_env)) == 1
    assert the_order(db).status in PAID


def test_too_many_card_attempts_show_when_to_try_again(page, shop, db, stripe_env) -> None:  # type: ignore[no-untyped-def]
    from store.throttle import PER_ADDRESS, CardAttempt

    # earlier card attempts from this address (the browser's, 127.0.0.1) used up its hour
    for i in range(PER_ADDRESS.amount):
        CardAttempt(kind="donation", step="setup", ip="127.0.0.1", subject=f"earlier-{i}", counted=True).take()
    errors = watch_errors(page)
    to_payment(page, shop.url)
    fill_card(page, CARD_SUCCEEDS)
    button = page.get_by_role("button", name="Pay £53.99")
    button.click()
    alert = page.get_by_role("alert")
    alert.wait_for()
    # the page's script shows the 429's message, lets the shopper try later, and nothing was charged
    assert alert.inner_text() == "Too many card attempts. Please try again in 60 minutes."
    assert button.is_enabled()
    assert page.url == f"{shop.url}/checkout/pay"
    assert list_payment_intents(stripe_env) == []
    assert the_order(db).status == "pending_payment"
    assert [e for e in errors if "429" not in e] == []  # the browser logs the refused request itself
