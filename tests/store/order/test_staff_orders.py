"""Staff orders: list and filter, the order page, refunds through Stripe (localstripe), cancellation, roles."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup
from sqlmodel import Session, col, func, select

from store.order.models import Order, OrderEvent, OrderStatus, Refund
from store.order.service import move
from store.payment import PaymentUnavailable, RefundRefused
from tests.conftest import csrf_from
from tests.factories import make_paid_order
from tests.fakes.localstripe import get_object


def fresh(db: Session, order: Order) -> Order:
    db.commit()
    db.expire_all()
    found = db.get(Order, order.id)
    assert found is not None
    return found


def refunds_of(db: Session, order: Order) -> list[tuple[int, str, str]]:
    db.commit()
    db.expire_all()
    rows = db.exec(select(Refund).where(Refund.order_id == order.id).order_by(Refund.id)).all()
    return [(r.amount, r.status, r.idempotency_key) for r in rows]


def stripe_refunds(localstripe_url: str, intent_id: str) -> list[int]:
    return [r["amount"] for r in get_object(localstripe_url, "/v1/refunds", payment_intent=intent_id)["data"]]


def post_form(client, path: str, page: str, data: dict[str, str] | None = None):
    token = csrf_from(client.get(page).text)
    return client.post(path, data={**(data or {}), "csrf_token": token}, follow_redirects=False)


# --- list and page --------------------------------------------------------------------------------


def test_list_filters_by_status_and_searches_by_number_and_email(client, db, login_as):
    login_as("fulfilment")
    paid = make_paid_order(db, email="alice@example.org")
    unpaid = make_paid_order(db, paid=False, email="bob@example.org")

    def listed(url: str) -> list[str]:
        soup = BeautifulSoup(client.get(url).text, "html.parser")
        return [tr["data-number"] for tr in soup.select("tr.order-row")]

    assert sorted(listed("/staff/orders")) == sorted([paid.number, unpaid.number])
    assert listed("/staff/orders?status=pending_payment") == [unpaid.number]
    assert listed(f"/staff/orders?status={fresh(db, paid).status}") == [paid.number]
    assert listed("/staff/orders?q=ALICE@") == [paid.number]
    assert listed(f"/staff/orders?q={unpaid.number.lower()}") == [unpaid.number]
    assert listed("/staff/orders?status=refunded") == []


def test_list_is_paginated(client, db, login_as):
    login_as("owner")
    for _ in range(51):
        make_paid_order(db, paid=False)
    first = BeautifulSoup(client.get("/staff/orders").text, "html.parser")
    second = BeautifulSoup(client.get("/staff/orders?page=2").text, "html.parser")
    assert len(first.select("tr.order-row")) == 50
    assert len(second.select("tr.order-row")) == 1
    assert first.select_one("a[rel=next]") is not None and second.select_one("a[rel=next]") is None


def test_order_page_shows_status_word_timeline_lines_and_payment(client, db, login_as):
    login_as("fulfilment")
    order = make_paid_order(db)
    soup = BeautifulSoup(client.get(f"/staff/orders/{order.number}").text, "html.parser")
    assert soup.select_one("strong.status")["data-status"] == fresh(db, order).status
    events = [li.get_text(" ", strip=True) for li in soup.select("ol.timeline li.event")]
    assert "pending_payment → paid" in events[0]
    assert f"Payment pi_test_{order.number} succeeded." in events[0]
    assert soup.find("label", string="Amount") is not None
    assert soup.find("button", string="Refund") is not None
    payment_cells = [
        td.get_text(strip=True) for td in soup.select("table.payments tbody tr")[0].find_all("td")
    ]
    assert payment_cells[:4] == ["Payment", f"pi_test_{order.number}", "£28.95", "succeeded"]


# --- roles --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["editor", "catalogue"])
def test_other_roles_get_403_for_every_order_page_and_action_and_nothing_changes(client, db, login_as, role):
    order = make_paid_order(db)
    before = fresh(db, order).status
    login_as(role)
    for path in ("/staff/orders", f"/staff/orders/{order.number}", "/staff/orders?status=paid"):
        assert client.get(path).status_code == 403, path
    token = csrf_from(client.get("/staff/login").text)
    for path, data in (
        (f"/staff/orders/{order.number}/refund", {"amount": "1.00"}),
        (f"/staff/orders/{order.number}/cancel", {}),
    ):
        response = client.post(path, data={**data, "csrf_token": token}, follow_redirects=False)
        assert response.status_code == 403, path
    after = fresh(db, order)
    assert (after.status, after.amount_refunded) == (before, 0)
    assert refunds_of(db, order) == []


def test_no_csrf_is_403_and_nothing_changes(client, db, login_as):
    login_as("fulfilment")
    order = make_paid_order(db)
    response = client.post(
        f"/staff/orders/{order.number}/refund", data={"amount": "1.00"}, follow_redirects=False
    )
    assert response.status_code == 403
    assert refunds_of(db, order) == []


# --- refunds through localstripe -------------------------------------------------------------------


def test_over_refund_is_refused_to_the_penny_next_to_the_amount(
    client, db, login_as, stripe_paid_order, localstripe_url
):
    login_as("fulfilment")
    order = stripe_paid_order()  # £28.95
    page = f"/staff/orders/{order.number}"
    response = post_form(client, f"{page}/refund", page, {"amount": "28.96"})
    assert response.status_code == 422
    soup = BeautifulSoup(response.text, "html.parser")
    assert soup.select_one("#f-amount-error").get_text(strip=True) == (
        "That is more than is left to refund. The most you can refund is £28.95."
    )
    assert soup.select_one("#f-amount")["value"] == "28.96"
    assert refunds_of(db, order) == []
    assert stripe_refunds(localstripe_url, order.paid_intent_id) == []
    assert fresh(db, order).amount_refunded == 0


@pytest.mark.parametrize("typed", ["abc", "-1", "0", "1.234", "0.00", "1" * 40, "NaN", "1e3"])
def test_nonsense_amounts_are_refused(client, db, login_as, stripe_paid_order, typed):
    login_as("fulfilment")
    order = stripe_paid_order()
    page = f"/staff/orders/{order.number}"
    response = post_form(client, f"{page}/refund", page, {"amount": typed})
    assert response.status_code == 422
    assert BeautifulSoup(response.text, "html.parser").select_one("#f-amount-error") is not None
    assert refunds_of(db, order) == []


def test_partial_then_full_refund_is_exact(client, db, login_as, stripe_paid_order, localstripe_url):
    login_as("fulfilment")
    order = stripe_paid_order()  # £28.95
    page = f"/staff/orders/{order.number}"
    status_before = fresh(db, order).status
    # when staff refund £10.00
    first = post_form(client, f"{page}/refund", page, {"amount": "10.00"})
    assert (first.status_code, first.headers["location"]) == (303, page)
    # then £10.00 is refunded and the order keeps its status
    after_part = fresh(db, order)
    assert (after_part.amount_refunded, after_part.status) == (1000, status_before)
    assert refunds_of(db, order) == [(1000, "succeeded", f"order-{order.number}-refund-1")]
    # when staff refund with the Amount left empty: all that is left
    second = post_form(client, f"{page}/refund", page, {"amount": ""})
    assert second.status_code == 303
    after_all = fresh(db, order)
    assert (after_all.amount_refunded, after_all.status) == (2895, OrderStatus.refunded)
    assert refunds_of(db, order) == [
        (1000, "succeeded", f"order-{order.number}-refund-1"),
        (1895, "succeeded", f"order-{order.number}-refund-2"),
    ]
    assert sorted(stripe_refunds(localstripe_url, order.paid_intent_id)) == [1000, 1895]
    charge = get_object(localstripe_url, f"/v1/payment_intents/{order.paid_intent_id}")
    assert charge["amount"] == 2895
    # and the timeline says so, and nothing is left to refund
    soup = BeautifulSoup(client.get(page).text, "html.parser")
    refund_events = [li.get_text(" ", strip=True) for li in soup.select("li.event-refund")]
    assert len(refund_events) == 2
    assert "Refunded £10.00 (" in refund_events[0] and "£10.00 of £28.95 refunded." in refund_events[0]
    assert "Refunded £18.95 in full (" in refund_events[1]
    assert soup.select_one(".refundable").get_text(strip=True) == "£0.00"
    third = post_form(client, f"{page}/refund", page, {"amount": "0.01"})
    assert third.status_code == 422
    assert refunds_of(db, order)[-1][0] == 1895


def test_a_refused_refund_leaves_nothing_half_written(client, db, login_as, stripe_paid_order, monkeypatch):
    login_as("fulfilment")
    order = stripe_paid_order()
    status_before = fresh(db, order).status

    def refuse(**kwargs):
        raise RefundRefused("charge_already_refunded")

    monkeypatch.setattr("store.order.refunds.stripe_refund", refuse)
    page = f"/staff/orders/{order.number}"
    response = post_form(client, f"{page}/refund", page, {"amount": "5.00"})
    assert response.status_code == 303
    after = fresh(db, order)
    assert (after.amount_refunded, after.status) == (0, status_before)
    assert refunds_of(db, order) == [(500, "failed", f"order-{order.number}-refund-1")]
    # the failed attempt blocks nothing: the whole amount can still be refunded
    monkeypatch.undo()
    again = post_form(client, f"{page}/refund", page, {"amount": ""})
    assert again.status_code == 303
    assert fresh(db, order).amount_refunded == 2895


def test_stripe_not_answering_keeps_the_refund_pending_and_reconcile_finishes_it_with_the_same_key(
    client, db, login_as, stripe_paid_order, monkeypatch, localstripe_url
):
    login_as("fulfilment")
    order = stripe_paid_order()
    calls: list[str] = []

    def unavailable(**kwargs):
        calls.append(kwargs["idempotency_key"])
        raise PaymentUnavailable("timeout")

    monkeypatch.setattr("store.order.refunds.stripe_refund", unavailable)
    page = f"/staff/orders/{order.number}"
    assert post_form(client, f"{page}/refund", page, {"amount": "5.00"}).status_code == 303
    assert refunds_of(db, order) == [(500, "pending", f"order-{order.number}-refund-1")]
    # the pending £5.00 counts: at most £23.95 more may be asked for
    response = post_form(client, f"{page}/refund", page, {"amount": "23.96"})
    assert response.status_code == 422
    assert "£23.95" in BeautifulSoup(response.text, "html.parser").select_one("#f-amount-error").get_text()
    monkeypatch.undo()
    from store.order.reconcile import reconcile

    lines = list(reconcile(older_than_minutes=0))
    assert lines == [f"{order.number} refund order-{order.number}-refund-1 pending -> succeeded (stripe)"]
    assert calls == [f"order-{order.number}-refund-1"]
    assert refunds_of(db, order) == [(500, "succeeded", f"order-{order.number}-refund-1")]
    assert fresh(db, order).amount_refunded == 500
    assert stripe_refunds(localstripe_url, order.paid_intent_id) == [500]


def test_an_unpaid_order_cannot_be_refunded(client, db, login_as):
    login_as("fulfilment")
    order = make_paid_order(db, paid=False)
    page = f"/staff/orders/{order.number}"
    response = post_form(client, f"{page}/refund", page, {"amount": "1.00"})
    assert response.status_code == 422
    assert (
        "has not been paid"
        in BeautifulSoup(response.text, "html.parser").select_one("#f-amount-error").get_text()
    )


# --- cancellation -------------------------------------------------------------------------------------


def test_cancelling_a_paid_order_refunds_it_in_full(client, db, login_as, stripe_paid_order, localstripe_url):
    login_as("fulfilment")
    order = stripe_paid_order()
    page = f"/staff/orders/{order.number}"
    response = post_form(client, f"{page}/cancel", page)
    assert (response.status_code, response.headers["location"]) == (303, page)
    after = fresh(db, order)
    assert (after.status, after.amount_refunded) == (OrderStatus.refunded, 2895)
    moves = db.exec(
        select(OrderEvent.from_status, OrderEvent.to_status)
        .where(OrderEvent.order_id == order.id, col(OrderEvent.to_status).is_not(None))
        .order_by(OrderEvent.id)
    ).all()
    assert [tuple(m) for m in moves][-2:] == [(moves[-2][0], "cancelled"), ("cancelled", "refunded")]
    assert stripe_refunds(localstripe_url, order.paid_intent_id) == [2895]


def test_cancelling_an_unpaid_order_refunds_nothing(client, db, login_as):
    login_as("fulfilment")
    order = make_paid_order(db, paid=False)
    page = f"/staff/orders/{order.number}"
    assert post_form(client, f"{page}/cancel", page).status_code == 303
    assert fresh(db, order).status == OrderStatus.cancelled
    assert refunds_of(db, order) == []


@pytest.mark.parametrize("stage", [OrderStatus.in_production, OrderStatus.shipped])
def test_cancellation_is_refused_once_production_started(client, db, login_as, stage):
    login_as("fulfilment")
    order = make_paid_order(db)
    db.refresh(order)
    assert move(db, order, stage, actor="printful")
    db.commit()
    page = f"/staff/orders/{order.number}"
    assert BeautifulSoup(client.get(page).text, "html.parser").find("button", string="Cancel order") is None
    response = post_form(client, f"{page}/cancel", page)
    assert response.status_code == 409
    assert (
        f"it is {stage.value}"
        in BeautifulSoup(response.text, "html.parser").select_one("#cancel-error").get_text()
    )
    after = fresh(db, order)
    assert (after.status, after.amount_refunded) == (stage, 0)
    assert db.exec(select(func.count()).select_from(Refund)).one() == 0
