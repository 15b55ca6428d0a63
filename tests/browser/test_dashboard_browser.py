"""The owner's dashboard in headless Chromium: every figure equals a count made by hand over a known
set of orders and donations spread across days and statuses."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from store import cache
from store.money import Money
from store.staff import dashboard
from tests.store.staff import scenario

pytestmark = pytest.mark.browser

COUNTED = {"paid", "submitted", "in_production", "shipped", "delivered", "on_hold"}
# The windows written out (2 December 2026 15:00 GMT): (start, end) of each period and the one before.
WINDOWS = {
    "today": ((datetime(2026, 12, 2, tzinfo=UTC), scenario.NOW), (datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 1, 15, tzinfo=UTC))),
    "week": ((datetime(2026, 11, 26, tzinfo=UTC), scenario.NOW), (datetime(2026, 11, 19, tzinfo=UTC), datetime(2026, 11, 25, 15, tzinfo=UTC))),
    "month": ((datetime(2026, 11, 3, tzinfo=UTC), scenario.NOW), (datetime(2026, 10, 4, tzinfo=UTC), datetime(2026, 11, 2, 15, tzinfo=UTC))),
}


def hand_count(start: datetime, end: datetime) -> tuple[int, int, int]:
    orders = revenue = margin = 0
    for _name, status, paid, lines, shipping, refunded, _story in scenario.ORDERS:
        if status not in COUNTED or paid is None or not start <= scenario.at(*paid) < end:
            continue
        orders += 1
        revenue += scenario.line_revenue(lines, shipping, refunded)
        margin += scenario.margin(lines, shipping, refunded)
    return orders, revenue, margin


def test_the_dashboard_shows_what_a_hand_count_gives(page, live_server, db, make_staff, monkeypatch):
    scenario.seed(db)
    monkeypatch.setattr(dashboard, "utcnow", lambda: scenario.NOW)
    cache.backend().clear()
    email = make_staff("owner")

    page.goto(f"{live_server.url}/staff")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{live_server.url}/staff")

    for period, ((start, end), (before_start, before_end)) in WINDOWS.items():
        orders, revenue, margin = hand_count(start, end)
        assert page.locator(f"#orders-{period}").inner_text() == str(orders)
        assert page.locator(f"#revenue-{period}").inner_text() == Money(revenue).format()
        assert page.locator(f"#margin-{period}").inner_text() == Money(margin).format()
        before_orders = hand_count(before_start, before_end)[0]
        change = page.locator(f"#orders-{period}").locator("xpath=following-sibling::small").inner_text()
        assert change.endswith(f"{round((orders - before_orders) * 100 / before_orders)}% on " + ("yesterday by this time" if period == "today" else f"the {7 if period == 'week' else 30} days before"))
    assert page.locator("#donations-total-month").inner_text() == "£42.50"  # £10 + £20 + £5 + £7 + 50p round-up
    # the chart's table adds up to the 30 days
    page.get_by_text("The 30 days as a table").click()
    cells = page.locator("#daily-table tbody tr td:first-of-type").all_inner_texts()
    assert sum(int(c) for c in cells) == hand_count(*WINDOWS["month"][0])[0]
    # and what needs action leads to the orders it counts
    assert page.locator("#action-on_hold .count").inner_text() == "1"
    page.locator("#action-on_hold").click()
    page.wait_for_url(f"{live_server.url}/staff/orders?status=on_hold")
    assert page.locator(".order-row").evaluate_all("rows => rows.map(r => r.dataset.number)") == ["RR-D"]
