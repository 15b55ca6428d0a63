"""The shopper's order page and GET /api/orders/{token}: exact values, private, 404 for strangers."""

from __future__ import annotations

from bs4 import BeautifulSoup

from store.fulfilment.models import Shipment
from store.order.models import OrderStatus
from store.order.service import move
from tests.factories import make_paid_order

MIXED = [("TS-RED-M", "Solidarity T-shirt", 2500, 2), ("CU-BLK", "Picket cushion", 3000, 1)]


def test_api_shows_the_exact_frozen_values(client, db):
    # given an order of 2 × £25.00 + 1 × £30.00, £5.00 off, £3.95 delivery, paid
    order = make_paid_order(db, lines=MIXED, shipping=395, discount=500)
    # when the shopper's link is asked for JSON
    response = client.get(f"/api/orders/{order.token}")
    # then the numbers are exactly what was sold
    assert response.status_code == 200
    body = response.json()
    assert body["number"] == order.number
    assert body["status"] == order.status
    assert body["total"] == {"amount": 7895, "currency": "GBP"}
    assert body["subtotal"] == {"amount": 8000, "currency": "GBP"}
    assert body["discount"] == {"amount": 500, "currency": "GBP"}
    assert body["shipping"] == {"amount": 395, "currency": "GBP"}
    # VAT: (4500 → 750) + (3000 → 500) + (395 → 66)
    assert body["vat"] == {"amount": 1316, "currency": "GBP"}
    assert [
        (
            line["sku"],
            line["quantity"],
            line["unit_price"]["amount"],
            line["line_total"]["amount"],
            line["vat"]["amount"],
            line["vat_rate_bp"],
        )
        for line in body["lines"]
    ] == [("TS-RED-M", 2, 2500, 4500, 750, 2000), ("CU-BLK", 1, 3000, 3000, 500, 2000)]
    assert body["shipments"] == []
    assert response.headers["cache-control"] == "no-store"
    assert "noindex" in response.headers["x-robots-tag"]


def test_api_lists_shipments_with_carrier_and_tracking(client, db):
    order = make_paid_order(db)
    db.add(
        Shipment(
            order_id=order.id,
            carrier="Royal Mail",
            tracking_number="RM123456785GB",
            tracking_url="https://www.royalmail.com/track-your-item#/tracking-results/RM123456785GB",
        )
    )
    db.add(Shipment(order_id=order.id, carrier="DPD", tracking_number="1550", tracking_url=""))
    db.commit()
    body = client.get(f"/api/orders/{order.token}").json()
    assert body["shipments"] == [
        {
            "carrier": "Royal Mail",
            "tracking_number": "RM123456785GB",
            "tracking_url": "https://www.royalmail.com/track-your-item#/tracking-results/RM123456785GB",
        },
        {"carrier": "DPD", "tracking_number": "1550", "tracking_url": None},
    ]


def test_unknown_token_is_404_as_json_and_as_html(client):
    api = client.get("/api/orders/not-a-real-token")
    assert api.status_code == 404
    assert api.json() == {"detail": "No such order."}
    page = client.get("/orders/not-a-real-token")
    assert page.status_code == 404
    assert "text/html" in page.headers["content-type"]


def test_order_page_shows_status_lines_vat_totals_address_and_timeline(client, db):
    order = make_paid_order(db, lines=MIXED, shipping=395, discount=500)
    response = client.get(f"/orders/{order.token}")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    soup = BeautifulSoup(response.text, "html.parser")
    assert soup.find("meta", attrs={"name": "robots"})["content"] == "noindex, nofollow"
    assert soup.h1.get_text(strip=True) == f"Order {order.number}"
    assert soup.select_one(".order-status")["data-status"] == order.status
    rows = [[td.get_text(" ", strip=True) for td in tr.find_all("td")] for tr in soup.select("tr.order-line")]
    assert [(r[1], r[2], r[3], r[4]) for r in rows] == [
        ("2", "£25.00", "£7.50 (20%)", "£45.00"),
        ("1", "£30.00", "£5.00 (20%)", "£30.00"),
    ]
    assert soup.select_one("dd.subtotal").get_text(strip=True) == "£80.00"
    assert soup.select_one("dd.discount").get_text(strip=True) == "-£5.00"
    assert soup.select_one("dd.shipping").get_text(strip=True) == "£3.95"
    assert soup.select_one("dd.total").get_text(strip=True) == "£78.95"
    assert soup.select_one("dd.vat-total").get_text(strip=True) == "£13.16"
    address = soup.select_one("address.delivery-address").get_text("|", strip=True)
    assert address == "Rosa Parks|1 Cable Street|Flat 2|London|E1 8JQ|GB"
    timeline = [li.get_text(" ", strip=True) for li in soup.select("ol.timeline li")]
    assert timeline[0].endswith("Order placed")
    assert timeline[1].endswith("Payment received")


def test_order_page_friendly_status_and_tracking_link(client, db):
    order = make_paid_order(db)
    db.refresh(order)
    assert move(db, order, OrderStatus.shipped, actor="staff:test")
    db.add(
        Shipment(
            order_id=order.id,
            carrier="Royal Mail",
            tracking_number="RM1",
            tracking_url="https://track.example/RM1",
        )
    )
    db.commit()
    soup = BeautifulSoup(client.get(f"/orders/{order.token}").text, "html.parser")
    assert soup.select_one(".order-status").get_text(" ", strip=True) == "Status: On its way"
    assert soup.select_one(".order-status")["data-status"] == "shipped"
    link = soup.select_one("a.tracking")
    assert (link.get_text(strip=True), link["href"]) == ("RM1", "https://track.example/RM1")
    assert soup.select_one(".carrier").get_text(strip=True) == "Royal Mail"
    assert [li.get_text(" ", strip=True).split(" ", 4)[-1] for li in soup.select("ol.timeline li")][
        -1
    ].endswith("Shipped")
