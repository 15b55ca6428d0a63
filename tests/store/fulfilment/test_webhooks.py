"""POST /webhooks/printful: signature, deduplication, forward-only processing, one shipment email."""

from __future__ import annotations

import httpx
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from store.fulfilment.models import Fulfilment, FulfilmentAttempt, Shipment
from store.mail.models import OutboundEmail
from store.order.models import Order
from store.webhook.models import InboundEvent
from tests.factories import make_paid_order
from tests.fakes.fixtures import PRINTFUL_WEBHOOK_SECRET
from tests.fakes.printful import FakePrintful, build_webhook

URL = "/webhooks/printful"


def _post(client: TestClient, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return client.post(URL, content=body, headers=headers)


def _fresh(db: Session) -> Session:
    """End the test session's read snapshot so it sees what the app and its jobs committed."""
    db.rollback()
    db.expire_all()
    return db


def _state(db: Session, order: Order) -> tuple[str, str]:
    o = _fresh(db).exec(select(Order).where(Order.id == order.id)).one()
    f = _fresh(db).exec(select(Fulfilment).where(Fulfilment.order_id == order.id)).one()
    return o.status, f.status


def test_bad_or_missing_signature_gets_401_and_nothing_is_stored(
    client: TestClient, db: Session, printful: FakePrintful
) -> None:
    order = make_paid_order(db)
    printful.ship(order.number)
    body, headers = printful.webhook("package_shipped", order.number, secret="wrong-secret")

    assert _post(client, body, headers).status_code == 401
    assert _post(client, body, {"content-type": "application/json"}).status_code == 401
    _, good = printful.webhook("package_shipped", order.number, secret=PRINTFUL_WEBHOOK_SECRET)
    assert _post(client, body + b" ", good).status_code == 401  # signature of another body

    assert _fresh(db).exec(select(InboundEvent)).all() == []
    assert _state(db, order) == ("submitted", "submitted")


def test_shipped_webhook_delivered_three_times_sends_one_email(
    client: TestClient, db: Session, printful: FakePrintful
) -> None:
    order = make_paid_order(db)
    shipment = printful.ship(
        order.number,
        carrier="ROYAL_MAIL",
        tracking_number="RM123456789GB",
        tracking_url="https://track.example/RM123456789GB",
    )
    body, headers = printful.webhook("package_shipped", order.number, secret=PRINTFUL_WEBHOOK_SECRET)

    answers = [_post(client, body, headers) for _ in range(3)]

    assert [r.status_code for r in answers] == [200, 200, 200]
    assert [r.json() for r in answers] == [
        {"status": "accepted"},
        {"status": "duplicate"},
        {"status": "duplicate"},
    ]
    assert len(_fresh(db).exec(select(InboundEvent)).all()) == 1
    assert _state(db, order) == ("shipped", "shipped")
    shipments = _fresh(db).exec(select(Shipment)).all()
    assert [(s.carrier, s.tracking_number, s.tracking_url) for s in shipments] == [
        ("ROYAL_MAIL", "RM123456789GB", "https://track.example/RM123456789GB")
    ]
    emails = _fresh(db).exec(select(OutboundEmail).where(OutboundEmail.key.startswith("shipment-"))).all()  # type: ignore[attr-defined]
    assert len(emails) == 1
    assert emails[0].key == f"shipment-{order.number}-{shipment['tracking_number']}"
    assert emails[0].subject == f"Your order {order.number} is on its way"
    assert "Carrier: Royal Mail" in emails[0].text
    assert "https://track.example/RM123456789GB" in emails[0].text
    assert emails[0].sent_at is not None


def test_the_same_shipment_in_a_resent_body_changes_nothing(
    client: TestClient, db: Session, printful: FakePrintful
) -> None:
    # Printful's retries carry "retries": n, so the body (and its hash) differ; the parcel does not.
    order = make_paid_order(db)
    shipment = printful.ship(order.number)
    about = printful.orders[order.number]
    for retries in (0, 1, 2):
        body, headers = build_webhook(
            "package_shipped", about, secret=PRINTFUL_WEBHOOK_SECRET, shipment=shipment, retries=retries
        )
        assert _post(client, body, headers).status_code == 200

    assert len(_fresh(db).exec(select(InboundEvent)).all()) == 3
    assert len(_fresh(db).exec(select(Shipment)).all()) == 1
    assert (
        len(_fresh(db).exec(select(OutboundEmail).where(OutboundEmail.key.startswith("shipment-"))).all())
        == 1
    )  # type: ignore[attr-defined]


def test_a_stale_order_updated_after_shipment_changes_nothing(
    client: TestClient, db: Session, printful: FakePrintful
) -> None:
    order = make_paid_order(db)
    printful.set_status(order.number, "inprocess")
    stale_body, stale_headers = printful.webhook("order_updated", order.number, secret=PRINTFUL_WEBHOOK_SECRET)
    printful.ship(order.number)
    shipped_body, shipped_headers = printful.webhook("package_shipped", order.number, secret=PRINTFUL_WEBHOOK_SECRET)
    assert _post(client, shipped_body, shipped_headers).status_code == 200
    assert _state(db, order) == ("shipped", "shipped")
    events_before = len(_fresh(db).exec(select(InboundEvent)).all())

    # when: the older "in production" update arrives late
    assert _post(client, stale_body, stale_headers).status_code == 200

    # then: stored, processed, and nothing moved
    assert _state(db, order) == ("shipped", "shipped")
    assert len(_fresh(db).exec(select(InboundEvent)).all()) == events_before + 1
    last = _fresh(db).exec(select(FulfilmentAttempt).order_by(FulfilmentAttempt.id.desc())).first()  # type: ignore[union-attr]
    assert last is not None and (last.action, last.outcome) == ("webhook:order_updated", "no_change")
    assert _fresh(db).exec(select(Fulfilment)).one().provider_status != "inprocess"


def test_order_updated_inprocess_moves_to_in_production(
    client: TestClient, db: Session, printful: FakePrintful
) -> None:
    order = make_paid_order(db)
    printful.set_status(order.number, "inprocess")
    body, headers = printful.webhook("order_updated", order.number, secret=PRINTFUL_WEBHOOK_SECRET)

    assert _post(client, body, headers).status_code == 200

    assert _state(db, order) == ("in_production", "in_production")


def test_holds_and_failures_go_to_the_desk_with_the_reason(
    client: TestClient, db: Session, printful: FakePrintful
) -> None:
    cases = [
        ("order_failed", "failed", "on_hold"),
        ("order_put_hold", "on_hold", "on_hold"),
        ("order_put_hold_approval", "needs_approval", "on_hold"),
        ("order_canceled", "cancelled", "on_hold"),
    ]
    for event_type, fulfilment_status, order_status in cases:
        order = make_paid_order(db)
        body, headers = printful.webhook(
            event_type, order.number, secret=PRINTFUL_WEBHOOK_SECRET, reason=f"Reason for {event_type}"
        )
        assert _post(client, body, headers).status_code == 200
        assert _state(db, order) == (order_status, fulfilment_status), event_type
        row = _fresh(db).exec(select(Fulfilment).where(Fulfilment.order_id == order.id)).one()
        assert row.reason == f"Reason for {event_type}"


def test_unknown_events_are_stored_and_ignored(
    client: TestClient, db: Session, printful: FakePrintful
) -> None:
    order = make_paid_order(db)
    body, headers = printful.webhook("product_synced", None, secret=PRINTFUL_WEBHOOK_SECRET)

    assert _post(client, body, headers).status_code == 200

    event = _fresh(db).exec(select(InboundEvent)).one()
    assert (event.source, event.type, event.processed_at is not None) == ("printful", "product_synced", True)
    assert _state(db, order) == ("submitted", "submitted")
