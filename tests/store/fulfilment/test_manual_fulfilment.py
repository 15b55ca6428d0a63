"""STORE_FULFILMENT=manual (the default): staff are the printer. A paid order stays `paid` ("To ship"
on the staff pages) until staff mark it as shipped; `submitted` means a print provider accepted it.
Through the pages a shopper and staff use: checkout and card payment, the staff list and order page,
the shopper's page, the API and the emails."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from store.config import get_settings
from store.mail.models import OutboundEmail
from store.order.models import Order
from tests.conftest import csrf_from
from tests.factories import add, checkout, make_product, pay_form, sku_of
from tests.fakes.localstripe import CARD_SUCCEEDS, make_payment_method

pytestmark = pytest.mark.usefixtures("stripe_env")


def _soup(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


def _pay_for_a_shirt(client: TestClient, db: Session, localstripe: str) -> Order:
    add(client, sku_of(db, make_product(db, price="25.00", colours="Black")), 1)
    assert checkout(client).status_code == 303
    form = pay_form(client)
    paid = client.post(
        "/checkout/card/pay",
        data={**form, "payment_method": make_payment_method(localstripe, CARD_SUCCEEDS)},
        headers={"X-CSRF-Token": form["csrf_token"]},
    )
    assert paid.json()["status"] == "succeeded"
    db.rollback()
    db.expire_all()
    return db.exec(select(Order)).one()


def test_a_paid_order_stays_paid_to_ship_until_staff_mark_it_shipped(
    client: TestClient,
    db: Session,
    login_as,
    stripe_env: str,  # type: ignore[no-untyped-def]
) -> None:
    assert get_settings().fulfilment == "manual"

    # given: a shopper pays for a shirt
    order = _pay_for_a_shirt(client, db, stripe_env)

    # then: it is paid, not "submitted": nobody has it yet but us
    assert order.status == "paid"
    shopper = _soup(client.get(f"/orders/{order.token}").text)
    assert shopper.select_one(".order-status")["data-status"] == "paid"
    assert shopper.select_one(".order-status strong").get_text() == "Paid"
    assert [li.get_text(" ", strip=True).split(" ", 4)[-1] for li in shopper.select(".timeline li")] == [
        "Order placed",
        "Payment received",
    ]
    assert client.get(f"/api/orders/{order.token}").json()["status"] == "paid"
    mail = db.exec(
        select(OutboundEmail).where(OutboundEmail.key == f"order-{order.number}-confirmation")
    ).one()
    assert "will print and post your order ourselves" in mail.text
    assert "printer" not in mail.text

    # and: staff see it as "To ship", with the status word beside it, and the form to ship it
    login_as("fulfilment")
    listing = _soup(client.get("/staff/orders").text)
    [row] = listing.select("tr.order-row")
    assert row.select_one(".status")["data-status"] == "paid"
    assert row.select_one(".status-label").get_text() == "To ship"
    assert listing.select_one('#f-status option[value="paid"]').get_text() == "paid (to ship)"
    page = _soup(client.get(f"/staff/orders/{order.number}").text)
    assert page.select_one("strong.status")["data-status"] == "paid"
    assert page.select_one(".status-label").get_text() == "To ship"
    ship_form = page.find("button", string="Mark as shipped").find_parent("form")

    # when: they mark it as shipped with a tracking number
    shipped = client.post(
        ship_form["action"],
        data={
            "carrier": "Royal Mail",
            "tracking_number": "AB123456789GB",
            "csrf_token": csrf_from(client.get(f"/staff/orders/{order.number}").text),
        },
        follow_redirects=False,
    )

    # then: it goes straight from paid to shipped, everywhere, and the shopper is told once
    assert shipped.status_code == 303
    page = _soup(client.get(f"/staff/orders/{order.number}").text)
    assert page.select_one("strong.status")["data-status"] == "shipped"
    assert page.select_one(".status-label") is None
    moves = [li.find("strong").get_text(" ", strip=True) for li in page.select("li.event-status")]
    assert moves == ["pending_payment → paid", "paid → shipped"]
    shopper = _soup(client.get(f"/orders/{order.token}").text)
    assert shopper.select_one(".order-status")["data-status"] == "shipped"
    assert shopper.select_one(".tracking").get_text() == "AB123456789GB"
    assert client.get(f"/api/orders/{order.token}").json()["status"] == "shipped"
    db.rollback()
    assert len(db.exec(select(OutboundEmail).where(OutboundEmail.key.startswith("shipment-"))).all()) == 1  # type: ignore[attr-defined]
