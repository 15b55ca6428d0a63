"""Funding figures, exact in pence, for a month with known orders, donations and costs; the owner's cost
editor; the page's chart and its table alternative."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime

import pytest
from bs4 import BeautifulSoup
from sqlmodel import select

from store.donation.models import Donation, DonationPayment
from store.funding import service
from store.funding.models import MonthlyCost
from store.order.models import Order, OrderLine
from tests.conftest import get_csrf

OCTOBER = date(2026, 10, 1)
_numbers = itertools.count(1)


def at(day: int, month: int = 10, hour: int = 12) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def make_order(
    db,
    *,
    status: str,
    paid_at: datetime | None,
    lines: list[dict],
    total: int,
    refunded: int = 0,
    article_id: int | None = None,
) -> Order:  # type: ignore[no-untyped-def]
    n = next(_numbers)
    order = Order(
        number=f"RR{n:04d}",
        token=f"tok-{n}",
        status=status,
        email="s@example.org",
        full_name="S",
        address_line1="1 Road",
        town="Leeds",
        postcode="LS1 1AA",
        country="GB",
        total=total,
        amount_refunded=refunded,
        paid_at=paid_at,
        attribution_article_id=article_id,
    )
    db.add(order)
    db.flush()
    for line in lines:
        db.add(
            OrderLine(
                order_id=order.id,
                product_title=line.get("title", "Tee"),
                **{k: v for k, v in line.items() if k != "title"},
            )
        )
    return order


def product(unit: int, qty: int, vat: int, cost: int, discount: int = 0) -> dict:
    return {
        "kind": "product",
        "quantity": qty,
        "unit_price": unit,
        "discount_amount": discount,
        "line_total": unit * qty - discount,
        "vat_rate_bp": 2000,
        "vat_amount": vat,
        "provider_cost": cost,
    }


def round_up(pence: int) -> dict:
    return {
        "kind": "donation",
        "title": "Round-up donation",
        "quantity": 1,
        "unit_price": pence,
        "line_total": pence,
    }


def donation_payment(db, kind: str, amount: int, paid_at: datetime, ref: str) -> None:  # type: ignore[no-untyped-def]
    donation = Donation(
        reference=ref * 4,
        kind=kind,
        status="succeeded" if kind == "one_off" else "active",
        amount=amount,
        email="d@example.org",
        full_name="D",
    )
    db.add(donation)
    db.flush()
    db.add(DonationPayment(donation_id=donation.id, external_id=f"x-{ref}", amount=amount, paid_at=paid_at))


@pytest.fixture
def october(db):  # type: ignore[no-untyped-def]
    """Costs £120.00; two counted orders; excluded ones around them; one-off £10, monthly £5 in October."""
    for category, pence in {
        "hosting": 4500,
        "subscriptions": 3000,
        "photo_media": 2000,
        "newswire": 1500,
        "marketing": 1000,
    }.items():
        db.add(MonthlyCost(month=OCTOBER, category=category, amount=pence))
    db.add(MonthlyCost(month=date(2026, 9, 1), category="hosting", amount=4000))
    # A: £25 tee (VAT £4.17, provider £11.50) + 50p round-up + £3.99 shipping = £29.49 charged
    #    margin 2500 − 417 − 1150 − fee(2949: 44 + 20 = 64) = 869
    make_order(
        db, status="shipped", paid_at=at(5), lines=[product(2500, 1, 417, 1150), round_up(50)], total=2949
    )
    # B: 2 × £18 cushion less £3.60 discount = £32.40 (VAT £5.40, provider 2 × £7), £5 refunded
    #    margin 3240 − 540 − 1400 − fee(3240: 49 + 20 = 69) − 500 = 731
    make_order(
        db,
        status="paid",
        paid_at=at(20),
        lines=[product(1800, 2, 540, 700, discount=360)],
        total=3240,
        refunded=500,
    )
    # not counted: cancelled, fully refunded, unpaid, and paid just outside the month either side
    make_order(db, status="cancelled", paid_at=at(6), lines=[product(2500, 1, 417, 1150)], total=2500)
    make_order(
        db, status="refunded", paid_at=at(7), lines=[product(2500, 1, 417, 1150), round_up(99)], total=2599
    )
    make_order(db, status="pending_payment", paid_at=None, lines=[product(2500, 1, 417, 1150)], total=2500)
    make_order(
        db,
        status="paid",
        paid_at=datetime(2026, 11, 1, 0, 0, tzinfo=UTC),  # midnight GMT: the first moment of November
        lines=[product(2500, 1, 417, 1150)],
        total=2500,
    )
    make_order(
        db,
        status="paid",
        paid_at=datetime(2026, 9, 30, 22, 59, 59, tzinfo=UTC),  # 23:59:59 BST, the last second of September
        lines=[product(2500, 1, 417, 1150)],
        total=2500,
    )
    donation_payment(db, "one_off", 1000, at(10), "a")
    donation_payment(db, "monthly", 500, at(3), "b")
    donation_payment(db, "monthly", 500, at(3, month=11), "c")
    db.commit()


def test_funding_figures_are_exact_in_pence(db, october):
    f = service.figures(db, OCTOBER)

    assert f.costs == {
        "hosting": 4500,
        "subscriptions": 3000,
        "photo_media": 2000,
        "newswire": 1500,
        "marketing": 1000,
    }
    assert (f.costs_total, f.one_off, f.monthly, f.round_up) == (12000, 1000, 500, 50)
    assert (f.shop_orders, f.shop_margin) == (2, 869 + 731)
    assert (f.donations_total, f.income_total, f.shortfall, f.surplus, f.covered_percent) == (
        1550,
        3150,
        8850,
        0,
        26,
    )


def test_the_funding_page_shows_the_numbers_a_chart_and_its_table(client, db, october):
    page = client.get("/funding?month=2026-10")

    assert page.status_code == 200
    soup = BeautifulSoup(page.text, "html.parser")
    assert soup.select_one("#month-heading").get_text() == "October 2026"
    assert [
        soup.select_one(f"#{i}").get_text() for i in ("costs-total", "income-total", "shortfall", "covered")
    ] == [
        "£120.00",
        "£31.50",
        "£88.50",
        "26%",
    ]
    income = [
        [c.get_text(" ", strip=True) for c in tr.select("th, td")] for tr in soup.select("#income-table tr")
    ]
    assert income[1:] == [
        ["One-off donations", "£10.00"],
        ["Monthly supporters", "£5.00"],
        ["Round-ups at checkout", "£0.50"],
        ["Shop margin (2 orders)", "£16.00"],
        ["Total", "£31.50"],
    ]
    costs = [
        [c.get_text(strip=True) for c in tr.select("th, td")] for tr in soup.select("#costs-table tbody tr")
    ]
    assert costs[0] == ["Hosting services", "£45.00"]
    svg = soup.select_one(".funding-chart svg")
    assert (
        svg["role"] == "img"
        and svg.select_one("title").get_text() == "Costs against what came in, October 2026"
    )
    # the cost bar is the longest (460 px for £120.00); what came in is drawn to the same scale
    widths = [float(r["width"]) for r in svg.select("rect")]
    assert round(sum(widths[:5]), 1) == 460.0
    assert round(sum(widths[5:]), 1) == round(3150 * 460 / 12000, 1)  # 120.75 → 120.8
    # history: September (the first month with costs) below, with the order paid at 23:59:59 on the 30th:
    # 2500 − 417 − 1150 − fee(2500: 38 + 20 = 58) = 875, covering 875 / 4000 = 21 %
    history = [
        [c.get_text(strip=True) for c in tr.select("th, td")] for tr in soup.select("#history-table tbody tr")
    ]
    assert history == [["September 2026", "£40.00", "£0.00", "£8.75", "£8.75", "21%"]]


def test_a_month_begins_at_midnight_in_london_as_the_dashboards_days_do(client, db):
    # 23:30 UTC on 30 September is 00:30 BST on 1 October: a reader who gave then gave in October;
    # 23:30 UTC on 31 October is 23:30 GMT (the clocks went back on the 25th): still October
    donation_payment(db, "one_off", 700, datetime(2026, 9, 30, 23, 30, tzinfo=UTC), "early")
    donation_payment(db, "one_off", 300, datetime(2026, 10, 31, 23, 30, tzinfo=UTC), "late")
    donation_payment(db, "one_off", 200, datetime(2026, 9, 30, 22, 30, tzinfo=UTC), "sept")
    db.add(MonthlyCost(month=OCTOBER, category="hosting", amount=4500, updated_by="t"))
    db.add(MonthlyCost(month=date(2026, 9, 1), category="hosting", amount=4000, updated_by="t"))
    db.commit()

    def one_off(month: str) -> str:
        page = BeautifulSoup(client.get(f"/funding?month={month}").text, "html.parser")
        rows = {
            tr.select_one("th").get_text(strip=True): tr.select_one("td").get_text(strip=True)
            for tr in page.select("#income-table tr")
            if tr.select_one("th") and tr.select_one("td")
        }
        return rows["One-off donations"]

    assert one_off("2026-10") == "£10.00"
    assert one_off("2026-09") == "£2.00"


def test_the_owner_edits_a_months_costs(client, db, login_as):
    login_as("owner")
    token = get_csrf(client, "/staff/funding?month=2026-10")
    answer = client.post(
        "/staff/funding",
        data={
            "csrf_token": token,
            "month": "2026-10",
            "hosting": "45",
            "subscriptions": "30.00",
            "photo_media": "£20",
            "newswire": "15.5",
            "marketing": "",
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303
    db.rollback()
    saved = {
        c.category: c.amount for c in db.exec(select(MonthlyCost).where(MonthlyCost.month == OCTOBER)).all()
    }
    assert saved == {
        "hosting": 4500,
        "subscriptions": 3000,
        "photo_media": 2000,
        "newswire": 1550,
        "marketing": 0,
    }


def test_a_bad_cost_is_shown_beside_its_field_and_nothing_is_saved(client, db, login_as):
    login_as("owner")
    token = get_csrf(client, "/staff/funding?month=2026-10")
    answer = client.post(
        "/staff/funding",
        data={
            "csrf_token": token,
            "month": "2026-10",
            "hosting": "45",
            "subscriptions": "-3",
            "photo_media": "1.234",
            "newswire": "",
            "marketing": "",
        },
    )
    assert answer.status_code == 422
    soup = BeautifulSoup(answer.text, "html.parser")
    assert (
        soup.select_one("#f-subscriptions-error").get_text() == "Enter an amount in pounds, like 45 or 12.50"
    )
    assert soup.select_one("#f-photo_media-error").get_text() == "Enter an amount in pounds, like 45 or 12.50"
    assert soup.select_one("#f-hosting")["value"] == "45"
    db.rollback()
    assert db.exec(select(MonthlyCost)).all() == []


@pytest.mark.parametrize("role", ["editor", "catalogue", "fulfilment"])
def test_only_the_owner_may_edit_costs(client, db, login_as, role):
    login_as(role)
    token = get_csrf(client, "/newsletter")
    assert client.get("/staff/funding").status_code == 403
    answer = client.post("/staff/funding", data={"csrf_token": token, "month": "2026-10", "hosting": "1"})
    assert answer.status_code == 403
    db.rollback()
    assert db.exec(select(MonthlyCost)).all() == []


def test_attribution_shows_which_stories_led_to_sales(client, db, login_as):
    from store.news.models import Article

    story = Article(slug="s1", title="Story one")
    db.add(story)
    db.flush()
    make_order(
        db,
        status="paid",
        paid_at=at(5),
        lines=[product(2500, 1, 417, 1150), round_up(50)],
        total=2949,
        article_id=story.id,
    )
    make_order(
        db,
        status="cancelled",
        paid_at=at(5),
        lines=[product(2500, 1, 417, 1150)],
        total=2500,
        article_id=story.id,
    )
    db.commit()
    login_as("editor")

    page = client.get("/staff/attribution")

    soup = BeautifulSoup(page.text, "html.parser")
    assert [
        [c.get_text(strip=True) for c in tr.select("th, td")] for tr in soup.select("#attribution tbody tr")
    ] == [["Story one", "1", "£25.00", "£8.69", "£0.50", "0", "£0.00"]]


def test_attribution_is_refused_to_catalogue_staff(client, login_as):
    login_as("catalogue")
    assert client.get("/staff/attribution").status_code == 403
