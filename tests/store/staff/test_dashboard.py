"""The staff dashboard through HTTP: every figure against a hand count, each role's own parts, the
links that need action and the lists they lead to, the chart and its table."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup

from store import cache
from store.money import Money
from store.staff import dashboard
from tests.store.staff import scenario


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(dashboard, "utcnow", lambda: scenario.NOW)
    cache.backend().clear()
    yield
    cache.backend().clear()


def pounds(pence: int) -> str:
    return Money(pence).format()


def text(soup, selector: str) -> str:  # type: ignore[no-untyped-def]
    found = soup.select_one(selector)
    assert found is not None, selector
    return found.get_text(" ", strip=True)


def test_the_owner_sees_every_figure_as_counted_by_hand(client, db, login_as):
    scenario.seed(db)
    login_as("owner")

    page = client.get("/staff")

    assert page.status_code == 200
    soup = BeautifulSoup(page.text, "html.parser")
    for period, ((orders, revenue, margin), (orders_before, revenue_before, margin_before)) in scenario.expected().items():
        assert text(soup, f"#orders-{period}") == str(orders)
        assert text(soup, f"#revenue-{period}") == pounds(revenue)
        assert text(soup, f"#margin-{period}") == pounds(margin)
    # today: A + B = 2 orders, £28.95 + £27.40 = £56.35; margin 869 + 731 = £16.00
    assert text(soup, "#orders-today") == "2"
    assert text(soup, "#revenue-today") == "£56.35"
    assert text(soup, "#margin-today") == "£16.00"
    # against yesterday up to 15:00 (order C only: 1 order, £28.95)
    changes = soup.select("#shop-figures tbody tr")[0].select(".change")
    assert changes[0].get_text(" ", strip=True) == "▲ Up 100% on yesterday by this time"
    assert changes[1].get_text(" ", strip=True) == "▲ Up 400% on the 7 days before"
    revenue_change = soup.select("#shop-figures tbody tr")[1].select(".change")[0].get_text(" ", strip=True)
    assert revenue_change == "▲ Up 95% on yesterday by this time"  # 5635 / 2895 = 1.946…
    assert "1.5 % + 20p" in soup.select_one("#how-figures-work").get_text()


def test_donations_count_one_off_monthly_and_round_ups(client, db, login_as):
    scenario.seed(db)
    login_as("owner")

    soup = BeautifulSoup(client.get("/staff").text, "html.parser")

    assert text(soup, "#donations-one_off-today") == "£10.00"
    assert text(soup, "#donations-monthly-today") == "£0.00"
    assert text(soup, "#donations-round_up-today") == "£0.50"  # order A's round-up; H's is cancelled
    assert text(soup, "#donations-total-today") == "£10.50"
    assert text(soup, "#donations-monthly-week") == "£5.00"
    assert text(soup, "#donations-one_off-month") == "£30.00"
    assert text(soup, "#donations-monthly-month") == "£12.00"
    assert text(soup, "#donations-total-month") == "£42.50"


def test_what_needs_action_links_to_lists_with_exactly_those_orders(client, db, login_as):
    scenario.seed(db)
    login_as("owner")

    soup = BeautifulSoup(client.get("/staff").text, "html.parser")
    actions = {a["id"]: (a["href"], a.select_one(".count").get_text()) for a in soup.select(".action-list a")}

    assert actions == {
        "action-on_hold": ("/staff/orders?status=on_hold", "1"),
        "action-to_ship": ("/staff/orders?needs=shipping", "1"),
        "action-refunds_pending": ("/staff/orders?needs=refund", "1"),
        "action-newsletter_sending": ("/staff/newsletter?status=sending", "1"),
    }
    for href, expected in [
        ("/staff/orders?status=on_hold", ["RR-D"]),
        ("/staff/orders?needs=shipping", ["RR-B"]),
        ("/staff/orders?needs=refund", ["RR-B"]),
    ]:
        listed = BeautifulSoup(client.get(href).text, "html.parser")
        assert [row["data-number"] for row in listed.select(".order-row")] == expected
    issues = BeautifulSoup(client.get("/staff/newsletter?status=sending").text, "html.parser")
    assert [td.get_text(strip=True) for td in issues.select(".issue-subject")] == ["Weekly"]


def test_the_chart_draws_30_days_with_a_table_of_the_same_figures(client, db, login_as):
    scenario.seed(db)
    login_as("owner")

    soup = BeautifulSoup(client.get("/staff").text, "html.parser")

    revenue = soup.select_one("svg#chart-revenue")
    assert revenue["role"] == "img"
    assert text(revenue, "title") == "Revenue each day, 3 November 2026 to 2 December 2026"
    assert len(revenue.select("rect")) == 30
    # the best day is 27 November (order E, £63.95): its column is the full 120 px, the others to scale
    heights = [float(r["height"]) for r in revenue.select("rect")]
    assert heights[-6] == 120.0
    assert heights[-1] == round(5635 * 120 / 6395, 1)
    assert heights[-2] == round((2895 + 2895) * 120 / 6395, 1)
    assert heights[0] == 0.0
    assert revenue.select("rect")[-1].select_one("title").get_text() == "2 December 2026: £56.35"
    rows = [[c.get_text(strip=True) for c in tr.select("th, td")] for tr in soup.select("#daily-table tbody tr")]
    assert len(rows) == 30
    assert rows[0] == ["2 December 2026", "2", "£56.35"]
    assert rows[1] == ["1 December 2026", "2", "£57.90"]
    assert rows[5] == ["27 November 2026", "1", "£63.95"]
    assert rows[29] == ["3 November 2026", "0", "£0.00"]
    assert sum(int(r[1]) for r in rows) == 6


def test_top_products_and_top_stories_by_sales(client, db, login_as):
    scenario.seed(db)
    login_as("owner")

    soup = BeautifulSoup(client.get("/staff").text, "html.parser")

    products = [[c.get_text(strip=True) for c in tr.select("th, td")] for tr in soup.select("#top-products tbody tr")]
    assert products == [
        ["Solidarity tee", "4", "£100.00"],  # A, C, D, F
        ["Pay the nurses tee", "3", "£60.00"],
        ["Cushion", "2", "£32.40"],
    ]
    stories = [[c.get_text(strip=True) for c in tr.select("th, td")] for tr in soup.select("#top-stories tbody tr")]
    assert stories == [["Story one", "2", "£85.00"], ["Story two", "1", "£32.40"]]


@pytest.mark.parametrize(
    ("role", "visible", "hidden"),
    [
        ("fulfilment", ["#shop-figures", "#action-on_hold", "#action-to_ship", "#action-refunds_pending"],
         ["#revenue-today", "#margin-today", "#donation-figures", "#chart-revenue", "#top-products",
          "#top-stories", "#action-newsletter_sending"]),
        ("catalogue", ["#top-products"],
         ["#shop-figures", "#donation-figures", "#chart-revenue", "#top-stories", ".action-list"]),
        ("editor", ["#top-stories", "#action-newsletter_sending"],
         ["#shop-figures", "#donation-figures", "#chart-revenue", "#top-products", "#action-on_hold"]),
    ],
)
def test_each_role_sees_its_own_parts(client, db, login_as, role, visible, hidden):
    scenario.seed(db)
    login_as(role)

    soup = BeautifulSoup(client.get("/staff").text, "html.parser")

    assert [s for s in visible if soup.select_one(s) is None] == []
    assert [s for s in hidden if soup.select_one(s) is not None] == []
    if role == "fulfilment":
        assert text(soup, "#orders-week") == "5"


def test_the_dashboard_asks_for_a_login(client):
    answer = client.get("/staff", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/staff/login?next=/staff"


def test_uk_days_follow_british_summer_time(client, db, login_as, monkeypatch):
    from datetime import UTC, datetime

    from tests.factories import placed_order as make_order
    from tests.factories import product_line as tee

    # 1 July 2026 10:00 BST. An order paid at 23:30 UTC on 30 June was paid at 00:30 on 1 July in London.
    monkeypatch.setattr(dashboard, "utcnow", lambda: datetime(2026, 7, 1, 9, 0, tzinfo=UTC))
    make_order(db, status="paid", paid_at=datetime(2026, 6, 30, 23, 30, tzinfo=UTC), lines=[tee(2500)])
    make_order(db, status="paid", paid_at=datetime(2026, 6, 30, 22, 59, tzinfo=UTC), lines=[tee(1000)])
    db.commit()
    login_as("owner")

    soup = BeautifulSoup(client.get("/staff").text, "html.parser")

    assert text(soup, "#orders-today") == "1"
    assert text(soup, "#revenue-today") == "£25.00"
    rows = [[c.get_text(strip=True) for c in tr.select("th, td")] for tr in soup.select("#daily-table tbody tr")]
    assert rows[:2] == [["1 July 2026", "1", "£25.00"], ["30 June 2026", "1", "£10.00"]]
    assert "10:00 on 1 July 2026, UK time" in text(soup, ".as-at")


def test_figures_are_cached_for_a_minute(client, db, login_as):
    from tests.factories import placed_order as make_order
    from tests.factories import product_line as tee

    login_as("owner")
    assert BeautifulSoup(client.get("/staff").text, "html.parser").select_one("#orders-today").get_text() == "0"
    make_order(db, status="paid", paid_at=scenario.at(0, 10), lines=[tee(2500)])
    db.commit()

    cached = BeautifulSoup(client.get("/staff").text, "html.parser")
    cache.backend().clear()  # what a minute later looks like
    fresh = BeautifulSoup(client.get("/staff").text, "html.parser")

    assert cached.select_one("#orders-today").get_text() == "0"
    assert fresh.select_one("#orders-today").get_text() == "1"
