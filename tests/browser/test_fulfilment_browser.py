"""Staff walk the exception desk in a real browser: a failed order is retried, then ships."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import Session

from tests.factories import make_paid_order
from tests.fakes.fixtures import PRINTFUL_WEBHOOK_SECRET
from tests.fakes.printful import FakePrintful


@pytest.mark.browser
def test_staff_retry_a_failed_order_from_the_exception_desk_and_it_ships(
    page: Page,
    live_server,
    db: Session,
    make_staff,
    printful: FakePrintful,  # type: ignore[no-untyped-def]
) -> None:
    # given: Printful refused an order, so it waits on the exception desk
    printful.reject_next("POST /orders", "Recipient: address is not deliverable")
    order = make_paid_order(db, full_name="Emmeline Pankhurst")
    email = make_staff("fulfilment")

    # when: a fulfilment staff member logs in and opens the desk
    page.goto(f"{live_server.url}/staff/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{live_server.url}/staff/fulfilment")

    # then: the order is there with the printer's reason
    row = page.locator(f"#order-{order.number}")
    expect(row).to_contain_text("Failed")
    expect(row).to_contain_text("Recipient: address is not deliverable")

    # when: they retry it
    row.get_by_role("button", name=f"Retry order {order.number}").click()

    # then: it went to the printer once, and the history shows both tries
    expect(page.get_by_role("status")).to_contain_text(f"Order {order.number} was sent back to the printer.")
    expect(page.locator(".fulfilment-status")).to_have_text("Submitted")
    expect(page.locator(".order-status")).to_have_text("submitted")
    assert list(printful.orders) == [order.number]
    history = page.locator(".desk-history tbody tr")
    expect(history).to_have_count(3)  # rejected submit, staff retry, successful submit
    expect(history.nth(1)).to_contain_text("staff:fulfilment@staff.example")

    # and: the desk is empty again
    page.goto(f"{live_server.url}/staff/fulfilment")
    expect(page.get_by_text("Nothing needs you")).to_be_visible()

    # when: Printful ships the parcel and tells us
    printful.ship(order.number, carrier="ROYAL_MAIL", tracking_number="RM000111222GB")
    status = printful.send_webhook(
        f"{live_server.url}/webhooks/printful", "package_shipped", order.number, secret=PRINTFUL_WEBHOOK_SECRET
    )
    assert status == 200

    # then: staff see it shipped with its tracking number
    page.goto(f"{live_server.url}/staff/fulfilment/{order.number}")
    expect(page.locator(".fulfilment-status")).to_have_text("Shipped")
    expect(page.locator(".order-status")).to_have_text("shipped")
    expect(page.get_by_role("link", name="RM000111222GB")).to_be_visible()
