"""GET /metrics: only for STORE_METRICS_ALLOW, route templates as labels, and a purchase counted."""

from __future__ import annotations

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.factories import add, checkout, make_product, pay_form, sku_of
from tests.fakes.localstripe import CARD_SUCCEEDS, make_payment_method


def scrape(app) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:  # type: ignore[no-untyped-def]
    r = TestClient(app, client=("127.0.0.1", 40000)).get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples, name: str, **labels: str) -> float:  # type: ignore[no-untyped-def]
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_refused_to_other_addresses(app) -> None:  # type: ignore[no-untyped-def]
    outsider = TestClient(app, client=("203.0.113.9", 40000))
    r = outsider.get("/metrics")
    assert (r.status_code, r.text) == (403, "Forbidden\n")
    # A forged header from an untrusted peer changes nothing.
    assert outsider.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 403
    # Through the trusted proxy (loopback), the shopper's own address is what counts.
    proxied = TestClient(app, client=("127.0.0.1", 40000))
    assert proxied.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 403
    assert proxied.get("/metrics").status_code == 200


def test_requests_are_labelled_by_route_template(app) -> None:  # type: ignore[no-untyped-def]
    before = scrape(app)
    c = TestClient(app)
    assert c.get("/shop/no-such-shirt").status_code == 404
    assert c.get("/shop/another-missing-one").status_code == 404
    assert c.get("/wp-login.php").status_code == 404
    after = scrape(app)
    labels = {"method": "GET", "route": "/shop/{slug}", "status": "404"}
    assert (
        value(after, "storefront_http_requests_total", **labels)
        - value(before, "storefront_http_requests_total", **labels)
        == 2
    )
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    assert (
        value(after, "storefront_http_requests_total", **unmatched)
        - value(before, "storefront_http_requests_total", **unmatched)
        == 1
    )
    assert not any("no-such-shirt" in str(key) or "wp-login" in str(key) for key in after)
    count = {"method": "GET", "route": "/shop/{slug}"}
    assert (
        value(after, "storefront_http_request_duration_seconds_count", **count)
        - value(before, "storefront_http_request_duration_seconds_count", **count)
        == 2
    )


def test_a_purchase_is_counted(stripe_env, app, client, db) -> None:  # type: ignore[no-untyped-def]
    shop = client
    before = scrape(app)
    assert value(before, "storefront_payments", status="succeeded") == 0
    add(shop, sku_of(db, make_product(db, price="25.00")), 2)
    assert checkout(shop).status_code == 303
    form = pay_form(shop)
    r = shop.post(
        "/checkout/card/pay",
        data={**form, "payment_method": make_payment_method(stripe_env, CARD_SUCCEEDS)},
        headers={"X-CSRF-Token": form["csrf_token"], "Accept": "application/json"},
    )
    assert r.json()["status"] == "succeeded"

    after = scrape(app)
    assert value(after, "storefront_payments", status="succeeded") == 1
    paid = sum(value(after, "storefront_orders", status=s) for s in ("paid", "submitted"))
    assert paid == 1
    pay = {"method": "POST", "route": "/checkout/card/pay", "status": "200"}
    assert (
        value(after, "storefront_http_requests_total", **pay)
        - value(before, "storefront_http_requests_total", **pay)
        == 1
    )
    assert value(after, "storefront_state_up") == 1
    assert value(after, "storefront_job_queue_depth") == 0  # jobs run inline in tests
    assert value(after, "storefront_orders", status="on_hold") == 0


def test_webhook_deliveries_by_outcome(app) -> None:  # type: ignore[no-untyped-def]
    before = scrape(app)
    c = TestClient(app)
    assert (
        c.post("/webhooks/stripe", content=b"{}", headers={"Stripe-Signature": "t=1,v1=bad"}).status_code
        == 400
    )
    assert (
        c.post("/webhooks/printful", content=b"{}", headers={"x-pf-webhook-signature": "00"}).status_code
        == 401
    )
    after = scrape(app)
    for source in ("stripe", "printful"):
        labels = {"source": source, "outcome": "rejected"}
        assert (
            value(after, "storefront_webhook_deliveries_total", **labels)
            - value(before, "storefront_webhook_deliveries_total", **labels)
            == 1
        )


def test_waiting_jobs_and_outbox_are_aged(app, db) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from sqlmodel import select

    from store.fulfilment.models import Fulfilment
    from store.jobs import huey
    from store.timeutil import utcnow
    from tests.factories import make_paid_order

    huey.immediate = False  # queue the paid order's jobs instead of running them
    try:
        huey.flush()
        make_paid_order(db)
        fulfilment = db.exec(select(Fulfilment)).one()
        fulfilment.created_at = utcnow() - timedelta(minutes=10)
        db.add(fulfilment)
        db.commit()
        samples = scrape(app)
        depth = huey.pending_count()
    finally:
        huey.flush()
        huey.immediate = True
    assert depth >= 1
    assert value(samples, "storefront_job_queue_depth") == depth
    assert 0 <= value(samples, "storefront_job_oldest_age_seconds") < 60
    assert value(samples, "storefront_fulfilment_outbox_pending") == 1
    assert 600 <= value(samples, "storefront_fulfilment_outbox_oldest_age_seconds") < 700
    assert value(samples, "storefront_orders", status="paid") == 1


def test_unprocessed_webhook_events_by_state(app, db) -> None:  # type: ignore[no-untyped-def]
    from store.webhook.models import InboundEvent

    db.add(InboundEvent(source="stripe", external_id="evt_1", type="payment_intent.succeeded", payload={}))
    db.add(
        InboundEvent(
            source="stripe", external_id="evt_2", type="payment_intent.succeeded", payload={}, error="boom"
        )
    )
    db.add(
        InboundEvent(source="printful", external_id="h1", type="package_shipped", payload={}, error="boom")
    )
    db.commit()
    samples = scrape(app)
    name = "storefront_webhook_events_unprocessed"
    assert value(samples, name, source="stripe", state="waiting") == 1
    assert value(samples, name, source="stripe", state="failing") == 1
    assert value(samples, name, source="printful", state="failing") == 1
    assert value(samples, name, source="printful", state="waiting") == 0
    assert value(samples, "storefront_state_up") == 1
