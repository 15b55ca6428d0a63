"""No outside call while a write transaction is open (issue 11): Printful, Stripe and SMTP are asked
only after the intent is committed and before the result is recorded.

The fake Printful, a proxy in front of localstripe and a small SMTP server each run a probe while
they answer: another connection must be able to take the write lock and commit at once (SQLite:
BEGIN IMMEDIATE with a 0.2 s timeout; PostgreSQL: lock every order, fulfilment, cart, payment and
refund row with NOWAIT). Every flow is driven the way people drive it: over HTTP, or by the worker.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

from store.mail.models import OutboundEmail
from store.order.models import Order
from tests.conftest import csrf_from, get_csrf
from tests.factories import add, checkout, make_paid_order, make_product, pay_form, sku_of, statuses
from tests.fakes.fixtures import PRINTFUL_WEBHOOK_SECRET, app_settings
from tests.fakes.localstripe import (
    CARD_SUCCEEDS,
    TEST_PUBLISHABLE_KEY,
    TEST_SECRET_KEY,
    flush,
    make_payment_method,
)
from tests.fakes.printful import FakePrintful
from tests.fakes.probing_proxy import probing_proxy

LOCKABLE = ("shop_order", "fulfilment", "cart", "payment", "refund", "donation", "outbound_email")


def writer_can_commit(engine: Engine) -> tuple[bool, str]:
    """Can another connection write and commit right now? (False: someone holds a write transaction.)"""
    if engine.dialect.name == "sqlite":
        conn = sqlite3.connect(str(engine.url.database), timeout=0.2, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("COMMIT")
            return True, ""
        except sqlite3.OperationalError as exc:
            return False, str(exc)
        finally:
            conn.close()
    try:
        with engine.connect() as conn, conn.begin():
            for table in LOCKABLE:
                conn.execute(text(f'SELECT 1 FROM "{table}" FOR UPDATE NOWAIT'))
    except OperationalError as exc:
        return False, str(exc.orig).splitlines()[0]
    return True, ""


@dataclass
class Probe:
    engine: Engine
    seen: list[tuple[str, bool, str]] = field(default_factory=list)

    def __call__(self, call: str) -> None:
        ok, why = writer_can_commit(self.engine)
        self.seen.append((call, ok, why))

    def calls(self) -> list[str]:
        return [call for call, _, _ in self.seen]

    def blocked(self) -> list[tuple[str, str]]:
        return [(call, why) for call, ok, why in self.seen if not ok]


@pytest.fixture
def probe(engine: Engine) -> Probe:
    return Probe(engine)


@pytest.fixture
def probed_printful(printful: FakePrintful, probe: Probe) -> Iterator[FakePrintful]:
    printful.while_answering(probe)
    yield printful
    printful.while_answering(None)


@pytest.fixture
def probed_stripe(localstripe_url: str, probe: Probe) -> Iterator[str]:
    """The app's Stripe calls go through a proxy in front of localstripe that probes while each is answered."""
    flush(localstripe_url)
    with (
        probing_proxy(localstripe_url, while_answering=probe) as url,
        app_settings(
            STORE_STRIPE_SECRET_KEY=TEST_SECRET_KEY,
            STORE_STRIPE_PUBLISHABLE_KEY=TEST_PUBLISHABLE_KEY,
            STORE_STRIPE_API_BASE=url,
            STORE_STRIPE_JS_URL=f"{localstripe_url}/js.stripe.com/v3/",
        ),
    ):
        yield localstripe_url


def _staff_post(client: TestClient, path: str, page: str, data: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return client.post(
        path, data={**(data or {}), "csrf_token": get_csrf(client, page)}, follow_redirects=False
    )


# --- Printful ----------------------------------------------------------------------------------------


def test_live_shipping_rates_are_asked_before_the_orders_transaction(
    client: TestClient, db: Session, probed_printful: FakePrintful, probe: Probe
) -> None:
    # given: a cart, with Printful's live rates in use
    add(client, sku_of(db, make_product(db, price="25.00", colours="Black")), 2)

    # when: the shopper continues to payment (and again after correcting the name)
    first = checkout(client)
    again = checkout(client, full_name="Ada King")

    # then: the order carries Printful's cheapest UK rate (£4.29), asked once (cached), never under the lock
    assert (first.status_code, again.status_code) == (303, 303)
    assert probe.blocked() == []
    db.rollback()
    order = db.exec(select(Order)).one()
    assert (order.shipping_name, order.shipping_amount, order.total) == (
        "Flat Rate (3-5 business days after fulfillment)",
        429,
        5429,
    )
    assert probe.calls() == ["POST /shipping/rates"]


def test_submitting_to_printful_holds_no_write_transaction(
    db: Session, probed_printful: FakePrintful, probe: Probe
) -> None:
    order = make_paid_order(db)  # the submit job runs after the payment commits

    assert statuses(db, order) == ("submitted", "submitted")
    assert probe.calls() == ["GET /orders/@{external_id}", "POST /orders"]
    assert probe.blocked() == []


def test_approving_at_the_printer_holds_no_write_transaction(
    client: TestClient,
    db: Session,
    login_as,
    probed_printful: FakePrintful,
    probe: Probe,  # type: ignore[no-untyped-def]
) -> None:
    order = make_paid_order(db)
    probed_printful.set_status(order.number, "onhold")
    body, headers = probed_printful.webhook(
        "order_put_hold_approval", order.number, secret=PRINTFUL_WEBHOOK_SECRET
    )
    assert client.post("/webhooks/printful", content=body, headers=headers).status_code == 200
    login_as("fulfilment")
    probe.seen.clear()

    r = _staff_post(client, f"/staff/fulfilment/{order.number}/approve", "/staff/fulfilment")

    assert r.status_code == 303
    assert statuses(db, order) == ("submitted", "submitted")
    assert probe.calls() == ["POST /orders/@{external_id}/confirm"]
    assert probe.blocked() == []


def test_cancelling_at_the_printer_and_refunding_hold_no_write_transaction(
    client: TestClient,
    db: Session,
    login_as,  # type: ignore[no-untyped-def]
    probed_printful: FakePrintful,
    probed_stripe: str,
    probe: Probe,
) -> None:
    # given: a paid order (a real localstripe payment) that Printful has
    from store.money import Money
    from store.payment import pay

    order_total = 2895
    paid = pay(
        amount=Money(order_total),
        payment_method=make_payment_method(probed_stripe, CARD_SUCCEEDS),
        idempotency_key="outside-calls-cancel",
        metadata={},
    )
    order = make_paid_order(db, intent_id=paid.intent_id)
    assert order.total == order_total
    assert statuses(db, order) == ("submitted", "submitted")
    login_as("fulfilment")
    probe.seen.clear()

    # when: staff cancel it on the order page
    r = _staff_post(client, f"/staff/orders/{order.number}/cancel", f"/staff/orders/{order.number}")

    # then: Printful cancelled it and Stripe refunded it, neither while a write transaction was open
    assert r.status_code == 303, r.text
    assert statuses(db, order) == ("cancelled", "refunded")
    assert probed_printful.orders[order.number]["status"] == "canceled"
    assert probe.calls() == ["DELETE /orders/@{external_id}", "POST /v1/refunds"]
    assert probe.blocked() == []


# --- Stripe ------------------------------------------------------------------------------------------


def test_card_payment_and_a_refund_hold_no_write_transaction(
    client: TestClient,
    db: Session,
    login_as,
    probed_stripe: str,
    probe: Probe,  # type: ignore[no-untyped-def]
) -> None:
    # given: a shopper at the payment step
    add(client, sku_of(db, make_product(db, price="25.00", colours="Black")), 1)
    assert checkout(client).status_code == 303
    form = pay_form(client)

    # when: they pay, and staff then refund £5.00
    pm = make_payment_method(probed_stripe, CARD_SUCCEEDS)
    paid = client.post(
        "/checkout/card/pay",
        data={**form, "payment_method": pm},
        headers={"X-CSRF-Token": form["csrf_token"]},
    )
    assert paid.json()["status"] == "succeeded"
    db.rollback()
    order = db.exec(select(Order)).one()
    login_as("fulfilment")
    page = client.get(f"/staff/orders/{order.number}")
    refund = client.post(
        f"/staff/orders/{order.number}/refund",
        data={"amount": "5.00", "csrf_token": csrf_from(page.text)},
        follow_redirects=False,
    )

    # then: Stripe was asked with no write transaction open, each time
    assert refund.status_code == 303
    db.rollback()
    db.expire_all()
    assert db.exec(select(Order)).one().amount_refunded == 500
    assert probe.calls() == ["POST /v1/payment_intents", "POST /v1/refunds"]
    assert probe.blocked() == []


def test_the_confirmation_email_is_rendered_before_the_payments_write_transaction(
    client: TestClient,
    db: Session,
    probed_stripe: str,
    probe: Probe,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # rendering it under SQLite's write lock made every other writer wait ~10 ms a payment (bench/rush.py)
    from store.checkout import payments

    render = payments.render_confirmation

    def probed(session, *, order):  # type: ignore[no-untyped-def]
        probe("render the confirmation")
        return render(session, order=order)

    monkeypatch.setattr(payments, "render_confirmation", probed)
    add(client, sku_of(db, make_product(db, price="25.00", colours="Black")), 1)
    assert checkout(client).status_code == 303
    form = pay_form(client)

    pm = make_payment_method(probed_stripe, CARD_SUCCEEDS)
    paid = client.post(
        "/checkout/card/pay", data={**form, "payment_method": pm}, headers={"X-CSRF-Token": form["csrf_token"]}
    )

    assert paid.json()["status"] == "succeeded"
    assert probe.calls() == ["POST /v1/payment_intents", "render the confirmation"]
    assert probe.blocked() == []
    db.rollback()
    order = db.exec(select(Order)).one()
    email = db.exec(select(OutboundEmail).where(OutboundEmail.key == f"order-{order.number}-confirmation")).one()
    assert f"Thank you for your order {order.number}" == email.subject
    assert "£25.00" in email.text and order.token in email.text


# --- SMTP --------------------------------------------------------------------------------------------


def test_sending_an_email_holds_no_write_transaction(db: Session, smtp_sink, probe: Probe) -> None:  # type: ignore[no-untyped-def]
    answer = smtp_sink.handle_DATA

    async def probing(server, session, envelope):  # type: ignore[no-untyped-def]
        probe("SMTP DATA")
        return await answer(server, session, envelope)

    smtp_sink.handle_DATA = probing

    order = make_paid_order(db)  # the confirmation is sent by SMTP after the payment commits

    [message] = smtp_sink.wait_for(1)
    assert message["Subject"] == f"Thank you for your order {order.number}"
    assert probe.blocked() == []
    assert probe.calls() == ["SMTP DATA"]
    db.rollback()
    mail = db.exec(
        select(OutboundEmail).where(OutboundEmail.key == f"order-{order.number}-confirmation")
    ).one()
    assert (mail.attempts, mail.sent_at is not None, mail.claimed_until) == (1, True, None)
