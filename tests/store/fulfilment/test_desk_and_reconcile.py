"""The exception desk (roles, retry, approve, cancel), manual shipping, and the reconciler."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from store.fulfilment.models import Fulfilment, Shipment
from store.fulfilment.reconcile import reconcile
from store.mail.models import OutboundEmail
from store.timeutil import utcnow
from tests.conftest import get_csrf
from tests.factories import make_paid_order, statuses
from tests.fakes.fixtures import PRINTFUL_WEBHOOK_SECRET
from tests.fakes.printful import FakePrintful


def _post(client: TestClient, path: str, data: dict[str, str] | None = None) -> httpx.Response:
    token = get_csrf(client, "/staff/fulfilment")
    return client.post(path, data={"csrf_token": token, **(data or {})}, follow_redirects=False)


def test_desk_lists_failed_orders_with_the_reason(
    client: TestClient,
    db: Session,
    login_as,
    printful: FakePrintful,  # type: ignore[no-untyped-def]
) -> None:
    printful.reject_next("POST /orders", "Item 1: variant is discontinued")
    failed = make_paid_order(db)
    fine = make_paid_order(db)
    login_as("fulfilment")

    page = BeautifulSoup(client.get("/staff/fulfilment").text, "html.parser")

    rows = page.select("table.desk tbody tr")
    assert [r["id"] for r in rows] == [f"order-{failed.number}"]
    assert rows[0].select_one(".reason").get_text(strip=True) == (
        "The printer refused the order: Item 1: variant is discontinued"
    )
    assert fine.number not in page.get_text()


@pytest.mark.parametrize("method,path", [("get", "/staff/fulfilment"), ("post", "/staff/fulfilment/X/retry")])
def test_other_roles_get_403_and_nothing_changes(
    client: TestClient,
    db: Session,
    login_as,
    printful: FakePrintful,
    method: str,
    path: str,  # type: ignore[no-untyped-def]
) -> None:
    printful.reject_next("POST /orders", "Nope")
    order = make_paid_order(db)
    login_as("editor")
    path = path.replace("X", order.number)

    if method == "get":
        r = client.get(path)
    else:
        token = get_csrf(client, "/staff/login")
        r = client.post(path, data={"csrf_token": token}, follow_redirects=False)

    assert r.status_code == 403
    assert statuses(db, order) == ("failed", "on_hold")
    assert printful.orders == {}


def test_approve_confirms_at_the_printer(
    client: TestClient,
    db: Session,
    login_as,
    printful: FakePrintful,  # type: ignore[no-untyped-def]
) -> None:
    order = make_paid_order(db)
    printful.set_status(order.number, "onhold")
    body, headers = printful.webhook(
        "order_put_hold_approval", order.number, secret=PRINTFUL_WEBHOOK_SECRET, reason="Price changed"
    )
    assert client.post("/webhooks/printful", content=body, headers=headers).status_code == 200
    assert statuses(db, order) == ("needs_approval", "on_hold")
    login_as("fulfilment")

    r = _post(client, f"/staff/fulfilment/{order.number}/approve")

    assert r.status_code == 303
    assert statuses(db, order) == ("submitted", "submitted")
    assert printful.orders[order.number]["status"] == "pending"
    assert printful.count("POST /orders/@{external_id}/confirm") == 1


def test_cancel_cancels_at_the_printer(
    client: TestClient,
    db: Session,
    login_as,
    printful: FakePrintful,  # type: ignore[no-untyped-def]
) -> None:
    order = make_paid_order(db)
    body, headers = printful.webhook(
        "order_put_hold", order.number, secret=PRINTFUL_WEBHOOK_SECRET, reason="Artwork unclear"
    )
    assert client.post("/webhooks/printful", content=body, headers=headers).status_code == 200
    login_as("fulfilment")

    r = _post(client, f"/staff/fulfilment/{order.number}/cancel")

    assert r.status_code == 303
    assert statuses(db, order) == ("cancelled", "cancelled")
    assert printful.orders[order.number]["status"] == "canceled"


def test_manual_mark_as_shipped_needs_a_tracking_number_then_emails_once(
    client: TestClient,
    db: Session,
    login_as,  # type: ignore[no-untyped-def]
) -> None:
    order = make_paid_order(db)
    login_as("fulfilment")
    path = f"/staff/orders/{order.number}/fulfilment/ship"

    bad = _post(client, path, {"carrier": "Royal Mail", "tracking_number": " "})
    assert bad.status_code == 422
    form = BeautifulSoup(bad.text, "html.parser")
    assert form.select_one("#f-tracking_number-error").get_text(strip=True) == "Enter the tracking number."
    assert form.select_one("#f-carrier")["value"] == "Royal Mail"

    good = _post(client, path, {"carrier": "Royal Mail", "tracking_number": "AB123456789GB"})
    again = _post(client, path, {"carrier": "Royal Mail", "tracking_number": "AB123456789GB"})

    assert (good.status_code, again.status_code) == (303, 303)
    assert statuses(db, order) == ("shipped", "shipped")
    assert len(db.exec(select(Shipment)).all()) == 1
    keys = db.exec(select(OutboundEmail.key).where(OutboundEmail.key.startswith("shipment-"))).all()  # type: ignore[attr-defined]
    assert keys == [f"shipment-{order.number}-AB123456789GB"]


def test_reconcile_finds_a_shipment_whose_webhook_was_lost(db: Session, printful: FakePrintful) -> None:
    shipped = make_paid_order(db)
    held = make_paid_order(db)
    quiet = make_paid_order(db)
    printful.ship(shipped.number, carrier="DPD", tracking_number="DPD42")
    printful.set_status(held.number, "onhold")
    db.rollback()
    for row in db.exec(select(Fulfilment)).all():
        row.updated_at = utcnow() - timedelta(hours=2)
        db.add(row)
    db.commit()

    lines = list(reconcile(older_than_minutes=30))

    assert lines == [
        f"{shipped.number}: fulfilment submitted -> shipped, order shipped (DPD DPD42)",
        f"{held.number}: fulfilment submitted -> on_hold, order on_hold",
    ]
    assert statuses(db, shipped) == ("shipped", "shipped")
    assert statuses(db, held) == ("on_hold", "on_hold")
    assert statuses(db, quiet) == ("submitted", "submitted")
    assert list(reconcile(older_than_minutes=30)) == []  # nothing new the second time
