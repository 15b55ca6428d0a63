"""The funding page's arithmetic, in pence, in one place.

For a calendar month on the UK clock (from midnight in London, as the staff dashboard counts days; a
donation at 00:30 BST on the 1st belongs to that month, not to the one before as in UTC):
* costs: what the owner entered per category (hosting, website subscriptions and services, photo
  media, newswire, marketing);
* donations: money received for one-off donations and monthly support (store.donation's payments,
  by the day they were paid), plus round-up donation lines of orders paid that month;
* shop margin of the orders paid that month: defined once in store.order.figures (and summed there
  in SQL) so this page, the staff dashboard and the attribution report always agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlmodel import Session

from store.donation import repository as donations
from store.errors import DomainError
from store.funding import repository
from store.funding.models import COST_CATEGORIES, MonthlyCost
from store.money import Money
from store.timeutil import london_date, london_midnight, utcnow

MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")
MAX_COST = 10_000_000  # £100,000 a category a month: anything above is a typo


def this_month() -> date:
    return london_date(utcnow()).replace(day=1)


def parse_month(raw: str | None) -> date:
    match = MONTH_RE.match(raw or "")
    if not match:
        return this_month()
    year, month = int(match.group(1)), int(match.group(2))
    if not (2000 <= year <= 2100 and 1 <= month <= 12):
        return this_month()
    return date(year, month, 1)


def next_month(month: date) -> date:
    return date(month.year + (month.month == 12), month.month % 12 + 1, 1)


def previous_month(month: date) -> date:
    return date(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1)


def bounds(month: date) -> tuple[datetime, datetime]:
    """The month's first and the next month's first instant, as UTC instants (same SQL everywhere)."""
    return london_midnight(month), london_midnight(next_month(month))


@dataclass
class MonthFigures:
    month: date
    costs: dict[str, int] = field(default_factory=dict)
    one_off: int = 0
    monthly: int = 0
    round_up: int = 0
    shop_margin: int = 0
    shop_orders: int = 0

    @property
    def costs_total(self) -> int:
        return sum(self.costs.values())

    @property
    def donations_total(self) -> int:
        return self.one_off + self.monthly + self.round_up

    @property
    def income_total(self) -> int:
        return self.donations_total + self.shop_margin

    @property
    def shortfall(self) -> int:
        return max(0, self.costs_total - self.income_total)

    @property
    def surplus(self) -> int:
        return max(0, self.income_total - self.costs_total)

    @property
    def covered_percent(self) -> int:
        if self.costs_total <= 0:
            return 100 if self.income_total >= 0 else 0
        return max(0, (self.income_total * 100) // self.costs_total)

    @property
    def label(self) -> str:
        return self.month.strftime("%B %Y")

    def money(self, pence: int) -> Money:
        return Money(pence)


def figures(session: Session, month: date) -> MonthFigures:
    start, end = bounds(month)
    result = MonthFigures(month=month, costs={key: 0 for key in COST_CATEGORIES})
    for row in repository.costs_for(session, month):
        if row.category in result.costs:
            result.costs[row.category] = row.amount
    received = donations.received_between(session, start, end)
    result.one_off = received["one_off"]
    result.monthly = received["monthly"]
    result.shop_orders, result.shop_margin, result.round_up = repository.shop_between(session, start, end)
    return result


def history(session: Session, *, until: date, months: int = 12) -> list[MonthFigures]:
    """The months before `until` (newest first) back to the first month with any costs entered."""
    known = repository.months_with_costs(session)
    first = known[0] if known else until
    found: list[MonthFigures] = []
    month = previous_month(until)
    while month >= first and len(found) < months:
        found.append(figures(session, month))
        month = previous_month(month)
    return found


def parse_pounds(raw: str, *, field: str) -> int:
    from decimal import Decimal, InvalidOperation

    text = raw.strip().replace("£", "").replace(",", "")
    if not text:
        return 0
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise DomainError("Enter an amount in pounds, like 45 or 12.50", field=field) from exc
    if not value.is_finite() or value != value.quantize(Decimal("0.01")) or value < 0:
        raise DomainError("Enter an amount in pounds, like 45 or 12.50", field=field)
    pence = int(value * 100)
    if pence > MAX_COST:
        raise DomainError(f"That's more than {Money(MAX_COST).format()}: check the amount", field=field)
    return pence


def set_costs(session: Session, *, month: date, amounts: dict[str, str], staff_email: str) -> dict[str, int]:
    """Validate every category first (errors by field), then write them all; nothing half-saved."""
    errors: dict[str, str] = {}
    parsed: dict[str, int] = {}
    for key in COST_CATEGORIES:
        try:
            parsed[key] = parse_pounds(amounts.get(key, ""), field=key)
        except DomainError as exc:
            errors[key] = exc.message
    if errors:
        error = DomainError(next(iter(errors.values())), field=next(iter(errors)))
        error.errors = errors  # type: ignore[attr-defined]
        raise error
    for key, pence in parsed.items():
        row = repository.cost_row(session, month, key) or MonthlyCost(month=month, category=key)
        row.amount = pence
        row.updated_by = staff_email
        row.updated_at = utcnow()
        session.add(row)
    session.flush()
    return parsed


@dataclass
class ArticleAttribution:
    article_id: int
    title: str
    slug: str
    orders: int = 0
    sales: int = 0  # product lines incl. VAT, after discounts
    margin: int = 0
    donations: int = 0
    donated: int = 0  # pence received from donations that started on this story (incl. later months)
    round_up: int = 0


def attribution(session: Session) -> list[ArticleAttribution]:
    from store.news.models import Article

    rows: dict[int, ArticleAttribution] = {}

    def row(article_id: int) -> ArticleAttribution:
        if article_id not in rows:
            article = session.get(Article, article_id)
            rows[article_id] = ArticleAttribution(
                article_id,
                article.title if article else f"Article {article_id} (deleted)",
                article.slug if article else "",
            )
        return rows[article_id]

    for article_id, orders, sales, margin, round_ups in repository.attributed_totals(session):
        item = row(article_id)
        item.orders, item.sales, item.margin, item.round_up = orders, sales, margin, round_ups
    for article_id, (count, total) in donations.received_by_article(session).items():
        item = row(article_id)
        item.donations += count
        item.donated += total
    return sorted(rows.values(), key=lambda r: (-(r.margin + r.donated + r.round_up), r.title))
