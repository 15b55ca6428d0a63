"""Staff refund part of an order in headless Chromium, through localstripe, and see it on the timeline."""

from __future__ import annotations

import pytest
from sqlmodel import select

from store.order.models import Order, Refund

pytestmark = pytest.mark.browser


def test_staff_refunds_part_of_an_order_and_sees_it_on_the_timeline(
    page, live_server, db, make_staff, stripe_paid_order
):
    # given a paid order of £28.95 and a fulfilment staff member
    order = stripe_paid_order()
    email = make_staff("fulfilment")
    # when they log in, open the order, and refund £5.00
    page.goto(f"{live_server.url}/staff/orders/{order.number}")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{live_server.url}/staff/orders/{order.number}")
    page.get_by_label("Amount").fill("5.00")
    page.get_by_role("button", name="Refund").click()
    # then the page says so, the timeline shows it, and £23.95 is left
    page.wait_for_url(f"{live_server.url}/staff/orders/{order.number}")
    assert page.locator(".flash").inner_text() == "Refunded £5.00."
    refund_event = page.locator("ol.timeline li.event-refund")
    assert refund_event.count() == 1
    assert "Refunded £5.00 (re_" in refund_event.inner_text()
    assert "£5.00 of £28.95 refunded." in refund_event.inner_text()
    assert page.locator(".refundable").inner_text() == "£23.95"
    db.commit()
    db.expire_all()
    assert db.exec(select(Order.amount_refunded).where(Order.id == order.id)).one() == 500
    assert [(r.amount, r.status) for r in db.exec(select(Refund)).all()] == [(500, "succeeded")]


def test_over_refund_in_the_browser_shows_the_error_next_to_amount(
    page, live_server, db, make_staff, stripe_paid_order
):
    order = stripe_paid_order()
    email = make_staff("owner")
    page.goto(f"{live_server.url}/staff/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{live_server.url}/staff/orders/{order.number}")
    page.get_by_label("Amount").fill("30")
    page.get_by_role("button", name="Refund").click()
    error = page.locator("#f-amount-error")
    error.wait_for()
    assert error.inner_text() == "That is more than is left to refund. The most you can refund is £28.95."
    assert page.get_by_label("Amount").input_value() == "30"
