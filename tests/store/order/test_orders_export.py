"""/staff/orders.csv as staff use it: the list's filters plus a UK date range, one row per order line,
money in pounds, formula-proof cells, streamed in batches, and only for the orders roles."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from bs4 import BeautifulSoup

from store.order import export
from tests.factories import placed_order as make_order
from tests.factories import product_line as tee
from tests.factories import round_up_line as round_up

HEADER = [
    "Order", "Date (UK time)", "Status", "Customer", "Email", "Country", "SKU", "Title", "Options", "Quantity",
    "Unit price", "VAT", "Line total", "Shipping", "Discount", "Order total", "Refunded",
]


def rows_of(answer) -> list[list[str]]:  # type: ignore[no-untyped-def]
    assert answer.status_code == 200, answer.text[:500]
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    return list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))


@pytest.fixture
def december(db):  # type: ignore[no-untyped-def]
    """Orders either side of 1-2 December 2026 (GMT: UK time is UTC)."""
    make_order(db, number="RR-OUT-BEFORE", status="paid", paid_at=datetime(2026, 11, 30, 23, 59, tzinfo=UTC), lines=[tee(2500)])
    make_order(
        db, number="RR-1", status="shipped", paid_at=datetime(2026, 12, 1, 0, 0, tzinfo=UTC),
        lines=[tee(2500, qty=2, discount=500), tee(1800, title="Cushion", sku="RRM-CUSH"), round_up(30)],
        shipping=395, refunded=1000,
    )
    make_order(
        db, number="RR-2", status="on_hold", paid_at=datetime(2026, 12, 2, 23, 59, tzinfo=UTC),
        lines=[tee(2000, title="=HYPERLINK(\"http://evil.example\")", sku="+SKU")],
        full_name="@Mallory", email="-m@example.org",
    )
    make_order(db, number="RR-OUT-AFTER", status="paid", paid_at=datetime(2026, 12, 3, 0, 0, tzinfo=UTC), lines=[tee(2500)])
    db.commit()


def test_rows_are_exactly_the_lines_of_the_orders_in_the_range(client, login_as, december):
    login_as("fulfilment")

    rows = rows_of(client.get("/staff/orders.csv?from=2026-12-01&to=2026-12-02"))

    assert rows[0] == HEADER
    assert rows[1:] == [
        ["RR-1", "2026-12-01 00:00", "shipped", "Rosa Parks", "shopper@example.org", "GB", "RRM-TEE-M", "Solidarity tee",
         "M / Red", "2", "25.00", "7.50", "45.00", "3.95", "5.00", "67.25", "10.00"],
        ["RR-1", "2026-12-01 00:00", "shipped", "Rosa Parks", "shopper@example.org", "GB", "RRM-CUSH", "Cushion",
         "M / Red", "1", "18.00", "3.00", "18.00", "", "", "", ""],
        ["RR-1", "2026-12-01 00:00", "shipped", "Rosa Parks", "shopper@example.org", "GB", "", "Round-up donation",
         "", "1", "0.30", "0.00", "0.30", "", "", "", ""],
        ["RR-2", "2026-12-02 23:59", "on_hold", "'@Mallory", "'-m@example.org", "GB", "'+SKU",
         "'=HYPERLINK(\"http://evil.example\")", "M / Red", "1", "20.00", "3.33", "20.00", "0.00", "0.00", "20.00", "0.00"],
    ]


def test_every_cell_a_spreadsheet_would_run_is_neutralised(client, login_as, december):
    login_as("owner")

    rows = rows_of(client.get("/staff/orders.csv"))

    triggers = ("=", "+", "-", "@", "\t", "\r")
    assert [cell for row in rows for cell in row if cell.startswith(triggers)] == []
    assert {r[0] for r in rows[1:]} == {"RR-OUT-BEFORE", "RR-1", "RR-2", "RR-OUT-AFTER"}


def test_uk_days_in_summer(client, db, login_as):
    # 1 July 2026 begins at 23:00 UTC on 30 June (BST)
    make_order(db, number="RR-JUL", status="paid", paid_at=datetime(2026, 6, 30, 23, 0, tzinfo=UTC), lines=[tee(2500)])
    make_order(db, number="RR-JUN", status="paid", paid_at=datetime(2026, 6, 30, 22, 59, tzinfo=UTC), lines=[tee(2500)])
    db.commit()
    login_as("owner")

    rows = rows_of(client.get("/staff/orders.csv?from=2026-07-01&to=2026-07-31"))

    assert [(r[0], r[1]) for r in rows[1:]] == [("RR-JUL", "2026-07-01 00:00")]


def test_the_lists_filters_apply_and_the_list_links_to_its_export(client, login_as, december):
    login_as("fulfilment")

    listed = BeautifulSoup(client.get("/staff/orders?status=on_hold&from=2026-12-01").text, "html.parser")
    link = listed.select_one("#export-csv")["href"]

    assert link == "/staff/orders.csv?status=on_hold&from=2026-12-01"
    assert [r[0] for r in rows_of(client.get(link))[1:]] == ["RR-2"]
    assert [r[0] for r in rows_of(client.get("/staff/orders.csv?q=rr-out"))[1:]] == ["RR-OUT-BEFORE", "RR-OUT-AFTER"]


def test_it_is_streamed_in_batches(client, db, login_as, monkeypatch):
    for n in range(7):
        make_order(db, number=f"RR-B{n}", status="paid", paid_at=datetime(2026, 12, 1, 10, n, tzinfo=UTC), lines=[tee(1000), tee(500)])
    db.commit()
    batches: list[int] = []
    real = export.repository.export_batch

    def spy(session, filters, *, after_id, limit):  # type: ignore[no-untyped-def]
        found = real(session, filters, after_id=after_id, limit=limit)
        batches.append(len(found))
        return found

    monkeypatch.setattr(export, "BATCH", 3)
    monkeypatch.setattr(export.repository, "export_batch", spy)
    login_as("owner")

    rows = rows_of(client.get("/staff/orders.csv"))

    assert batches == [3, 3, 1, 0]
    assert [r[0] for r in rows[1:]] == [f"RR-B{n}" for n in range(7) for _ in (1, 2)]


def test_a_bad_date_is_shown_beside_its_field(client, login_as, december):
    login_as("fulfilment")

    answer = client.get("/staff/orders.csv?from=2026-13-01&to=2026-12-01")

    assert answer.status_code == 422
    soup = BeautifulSoup(answer.text, "html.parser")
    assert soup.select_one("#f-from-error").get_text() == "Enter a date like 2026-12-02."
    assert soup.select_one("#f-from")["value"] == "2026-13-01"
    backwards = BeautifulSoup(client.get("/staff/orders?from=2026-12-02&to=2026-12-01").text, "html.parser")
    assert backwards.select_one("#f-to-error").get_text() == "The end date is before the start date."


@pytest.mark.parametrize("role", ["editor", "catalogue"])
def test_other_roles_may_not_export(client, login_as, december, role):
    login_as(role)
    answer = client.get("/staff/orders.csv")
    assert answer.status_code == 403
    assert "RR-1" not in answer.text
