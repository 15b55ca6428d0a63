"""The staff dashboard's figures: one aggregate query per panel, cached for a minute.

Days are UK days (Europe/London, store.timeutil): "today" began at midnight in London. Each period
ends now; the period it is compared with is the same stretch of time N days earlier (today so far
against yesterday up to this time, the last 7 days against the 7 before), so a morning is never
compared with a whole day. Revenue, shop margin and round-ups are defined once, in
store.order.figures. What needs action is counted fresh on every view (cheap indexed counts), with
the same conditions as the lists the counts link to.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import case, func, literal, select
from sqlmodel import Session, col

from store.auth.models import Role, StaffUser
from store.cache import cached
from store.donation.models import Donation, DonationKind, DonationPayment
from store.money import Money
from store.newsletter.models import IssueStatus, NewsletterIssue
from store.order import figures
from store.order import repository as orders
from store.order.models import Order, OrderLine, OrderStatus
from store.timeutil import LONDON, london_date, london_midnight, utcnow

CACHE_NAMESPACE = "dashboard"
CACHE_SECONDS = 60
CHART_DAYS = 30
TOP = 5
PERIODS = (("today", "Today", 1), ("week", "Last 7 days", 7), ("month", "Last 30 days", 30))


@dataclass(frozen=True)
class Period:
    key: str
    label: str
    days: int
    start: datetime
    end: datetime
    before_start: datetime
    before_end: datetime

    @property
    def before_label(self) -> str:
        return "yesterday by this time" if self.days == 1 else f"the {self.days} days before"


def periods(now: datetime) -> list[Period]:
    today = london_date(now)
    local_now = now.astimezone(LONDON)
    found = []
    for key, label, days in PERIODS:
        first = today - timedelta(days=days - 1)
        before_first = first - timedelta(days=days)
        # "this time, N days ago" on the London clock (a day across a clock change is 23 or 25 hours)
        before_end = datetime.combine(today - timedelta(days=days), local_now.time(), tzinfo=LONDON)
        found.append(
            Period(key, label, days, london_midnight(first), now, london_midnight(before_first), before_end)
        )
    return found


@dataclass(frozen=True)
class Figure:
    now: int
    before: int

    @property
    def change_percent(self) -> int | None:
        if self.before == 0:
            return None
        return round((self.now - self.before) * 100 / abs(self.before))

    @property
    def direction(self) -> str:
        return "up" if self.now > self.before else "down" if self.now < self.before else "same"

    def change_words(self, before_label: str, money: bool) -> str:
        """'Up 12% on the 7 days before' — as an owner would say it."""
        if self.now == self.before:
            return f"The same as {before_label}"
        if self.before == 0:
            return f"{self.direction.capitalize()} from {'£0.00' if money else 'none'} {before_label}"
        return f"{self.direction.capitalize()} {abs(self.change_percent or 0)}% on {before_label}"


def _rows(session: Session, stmt: Any) -> list[Any]:
    return list(session.execute(stmt).all())


def _sum_if(condition: Any, value: Any) -> Any:
    return func.coalesce(func.sum(case((condition, value), else_=0)), 0)


def _in(column: Any, start: datetime, end: datetime) -> Any:
    return (column >= start) & (column < end)


# --- the panels (each one query) ------------------------------------------------------------------


def shop_figures(session: Session, now: datetime) -> dict[str, dict[str, list[int]]]:
    """Per period: orders, revenue, margin and round-ups, now and before. One query."""
    spans = periods(now)
    earliest = min(p.before_start for p in spans)
    facts = figures.order_facts(col(Order.paid_at) >= earliest, col(Order.paid_at) < now)
    columns = []
    for p in spans:
        for start, end in ((p.start, p.end), (p.before_start, p.before_end)):
            inside = _in(facts.c.paid_at, start, end)
            columns += [
                _sum_if(inside, literal(1)),
                _sum_if(inside, facts.c.revenue),
                _sum_if(inside, facts.c.margin),
                _sum_if(inside, facts.c.round_up),
            ]
    row = [int(v) for v in session.execute(select(*columns)).one()]
    result: dict[str, dict[str, list[int]]] = {}
    for i, p in enumerate(spans):
        now_values, before_values = row[i * 8 : i * 8 + 4], row[i * 8 + 4 : i * 8 + 8]
        result[p.key] = {
            name: [now_values[j], before_values[j]]
            for j, name in enumerate(("orders", "revenue", "margin", "round_up"))
        }
    return result


def donation_figures(session: Session, now: datetime) -> dict[str, dict[str, list[int]]]:
    """Per period: one-off and monthly donations received, now and before. One query."""
    spans = periods(now)
    earliest = min(p.before_start for p in spans)
    columns = []
    for p in spans:
        for start, end in ((p.start, p.end), (p.before_start, p.before_end)):
            inside = _in(col(DonationPayment.paid_at), start, end)
            for kind in (DonationKind.one_off, DonationKind.monthly):
                columns.append(_sum_if(inside & (col(Donation.kind) == kind), col(DonationPayment.amount)))
    stmt = (
        select(*columns)
        .select_from(DonationPayment)
        .join(Donation, col(Donation.id) == col(DonationPayment.donation_id))
        .where(col(DonationPayment.paid_at) >= earliest, col(DonationPayment.paid_at) < now)
    )
    row = [int(v) for v in session.execute(stmt).one()]
    return {
        p.key: {"one_off": [row[i * 4], row[i * 4 + 2]], "monthly": [row[i * 4 + 1], row[i * 4 + 3]]}
        for i, p in enumerate(spans)
    }


def daily(session: Session, now: datetime, days: int = CHART_DAYS) -> list[dict[str, Any]]:
    """The last `days` UK days (oldest first): orders and revenue each day. One query."""
    today = london_date(now)
    dates = [today - timedelta(days=days - 1 - i) for i in range(days)]
    edges = [london_midnight(d) for d in dates[1:]]
    facts = figures.order_facts(col(Order.paid_at) >= london_midnight(dates[0]), col(Order.paid_at) < now)
    # The day's index by comparing with each midnight: exact across clock changes, same SQL everywhere.
    bucket = case(*[(facts.c.paid_at < edge, i) for i, edge in enumerate(edges)], else_=days - 1)
    stmt = select(bucket.label("day"), func.count(), func.sum(facts.c.revenue)).group_by(bucket)
    found = {int(day): (int(n), int(revenue or 0)) for day, n, revenue in _rows(session, stmt)}
    return [
        {"date": d.isoformat(), "orders": found.get(i, (0, 0))[0], "revenue": found.get(i, (0, 0))[1]}
        for i, d in enumerate(dates)
    ]


def top_products(session: Session, now: datetime, limit: int = TOP) -> list[dict[str, Any]]:
    """Best sellers over the last 30 UK days by sales (product lines of counted orders). One query."""
    from catalog.models import Product, Variant

    since = london_midnight(london_date(now) - timedelta(days=CHART_DAYS - 1))
    # Lines whose variant has since been deleted are grouped by their frozen title instead.
    orphan = case((col(Variant.product_id).is_(None), col(OrderLine.product_title)), else_=literal(None))
    sales = func.sum(col(OrderLine.line_total))
    stmt = (
        select(
            col(Variant.product_id),
            func.max(col(Product.title)),
            func.max(col(OrderLine.product_title)),
            func.sum(col(OrderLine.quantity)),
            sales,
        )
        .select_from(OrderLine)
        .join(Order, col(Order.id) == col(OrderLine.order_id))
        .outerjoin(Variant, col(Variant.id) == col(OrderLine.variant_id))
        .outerjoin(Product, col(Product.id) == col(Variant.product_id))
        .where(figures.counted(), _in(col(Order.paid_at), since, now), col(OrderLine.kind) != "donation")
        .group_by(col(Variant.product_id), orphan)
        .order_by(sales.desc(), func.max(col(OrderLine.product_title)))
        .limit(limit)
    )
    return [
        {"product_id": pid, "title": title or frozen, "units": int(units), "sales": int(total)}
        for pid, title, frozen, units, total in _rows(session, stmt)
    ]


def top_stories(session: Session, now: datetime, limit: int = TOP) -> list[dict[str, Any]]:
    """Stories that led to the most product sales over the last 30 UK days. One query."""
    from store.news.models import Article

    since = london_midnight(london_date(now) - timedelta(days=CHART_DAYS - 1))
    facts = figures.order_facts(
        col(Order.attribution_article_id).is_not(None), _in(col(Order.paid_at), since, now)
    )
    sales = func.sum(facts.c.sales)
    stmt = (
        select(facts.c.attribution_article_id, col(Article.title), col(Article.slug), func.count(), sales)
        .select_from(facts)
        .outerjoin(Article, col(Article.id) == facts.c.attribution_article_id)
        .group_by(facts.c.attribution_article_id, col(Article.title), col(Article.slug))
        .order_by(sales.desc(), col(Article.title))
        .limit(limit)
    )
    return [
        {
            "article_id": int(aid),
            "title": title or f"Story {aid} (deleted)",
            "slug": slug or "",
            "orders": int(n),
            "sales": int(total or 0),
        }
        for aid, title, slug, n, total in _rows(session, stmt)
    ]


def needs_action(session: Session, user: StaffUser) -> list[dict[str, Any]]:
    """What needs someone now, as counts linking to the matching list. One query (scalar subqueries)."""
    items: list[tuple[str, str, Any, str]] = []  # (key, "one|many" label, count query, list)
    if user.may(Role.fulfilment):
        count_orders = select(func.count()).select_from(Order)
        items += [
            (
                "on_hold",
                "order on hold|orders on hold",
                count_orders.where(col(Order.status) == OrderStatus.on_hold),
                "/staff/orders?status=on_hold",
            ),
            (
                "to_ship",
                "order to post by hand|orders to post by hand",
                count_orders.where(orders.to_ship()),
                "/staff/orders?needs=shipping",
            ),
            (
                "refunds_pending",
                "refund waiting for Stripe|refunds waiting for Stripe",
                count_orders.where(orders.refund_pending()),
                "/staff/orders?needs=refund",
            ),
        ]
    if user.may(Role.editor):
        items.append(
            (
                "newsletter_sending",
                "newsletter issue being sent|newsletter issues being sent",
                select(func.count())
                .select_from(NewsletterIssue)
                .where(col(NewsletterIssue.status) == IssueStatus.sending),
                "/staff/newsletter?status=sending",
            )
        )
    if not items:
        return []
    counts: Any = session.execute(select(*[q.scalar_subquery() for _, _, q, _ in items])).one()
    return [
        {"key": key, "label": label.split("|")[0 if int(n) == 1 else 1], "count": int(n), "url": url}
        for (key, label, _, url), n in zip(items, counts, strict=True)
    ]


# --- what each role sees -----------------------------------------------------------------------------


def _cached(name: str, now: datetime, build: Callable[[], Any]) -> Any:
    # The key carries the UK date, so a period never straddles midnight in the cache.
    key = f"{name}:{london_date(now).isoformat()}"
    return json.loads(cached(CACHE_NAMESPACE, key, lambda: json.dumps(build()), ttl=CACHE_SECONDS))


@dataclass
class Dashboard:
    now: datetime
    periods: list[Period]
    shop: dict[str, dict[str, list[int]]] | None = None
    donations: dict[str, dict[str, list[int]]] | None = None
    chart: list[dict[str, Any]] | None = None
    products: list[dict[str, Any]] | None = None
    stories: list[dict[str, Any]] | None = None
    actions: list[dict[str, Any]] | None = None
    show_money: bool = False

    def figure(self, section: str, period: str, name: str) -> Figure:
        data = self.shop if section == "shop" else self.donations
        assert data is not None
        now_value, before_value = data[period][name]
        return Figure(now_value, before_value)

    def donation_total(self, period: str) -> Figure:
        assert self.shop is not None and self.donations is not None
        parts = [
            self.donations[period]["one_off"],
            self.donations[period]["monthly"],
            self.shop[period]["round_up"],
        ]
        return Figure(sum(p[0] for p in parts), sum(p[1] for p in parts))

    def money(self, pence: int) -> Money:
        return Money(pence)


def build(session: Session, user: StaffUser, now: datetime | None = None) -> Dashboard:
    """Only the panels this person's role may see are computed."""
    now = now or utcnow()
    board = Dashboard(now=now, periods=periods(now))
    owner = user.is_active and user.role == Role.owner
    if owner or user.may(Role.fulfilment):
        board.shop = _cached("shop", now, lambda: shop_figures(session, now))
    if owner:
        board.show_money = True
        board.donations = _cached("donations", now, lambda: donation_figures(session, now))
        days = _cached("chart", now, lambda: daily(session, now))
        board.chart = [{**d, "date": date.fromisoformat(d["date"])} for d in days]
    if user.may(Role.catalogue):
        board.products = _cached("products", now, lambda: top_products(session, now))
    if user.may(Role.editor):
        board.stories = _cached("stories", now, lambda: top_stories(session, now))
    board.actions = needs_action(session, user)
    return board
