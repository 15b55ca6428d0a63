"""A known week of trading around Wednesday 2 December 2026, 15:00 (GMT, so UK time = UTC), with
every figure the dashboard should show worked out by hand beside it. Used by the HTTP and browser
tests of the dashboard."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from store.news.models import Article
from store.newsletter.models import NewsletterIssue
from tests.factories import card_fee_by_hand as card_fee
from tests.factories import placed_order as make_order
from tests.factories import product_line as tee
from tests.factories import received_donation as donation
from tests.factories import round_up_line as round_up

NOW = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)


def at(days_ago: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, 2, hour, minute, tzinfo=UTC) - timedelta(days=days_ago)


# (name, status, paid (days ago, hour), lines, shipping, refunded, story) — story 1 or 2 or None
ORDERS = [
    ("A", "shipped", (0, 9), [tee(2500, cost=1150), round_up(50)], 395, 0, 1),
    ("B", "paid", (0, 14), [tee(1800, qty=2, cost=700, discount=360, title="Cushion", sku="RRM-CUSH")], 0, 500, 2),
    ("C", "delivered", (1, 10), [tee(2500, cost=1150)], 395, 0, None),
    ("D", "on_hold", (1, 16), [tee(2500, cost=1150)], 395, 0, None),
    ("E", "submitted", (5, 12), [tee(2000, qty=3, cost=1000, title="Pay the nurses tee", sku="RRM-NURSE")], 395, 0, 1),
    ("F", "shipped", (10, 12), [tee(2500, cost=1150)], 395, 0, None),
    ("G", "delivered", (40, 12), [tee(2500, cost=1150)], 395, 0, None),
    # never counted: cancelled, refunded in full, not paid
    ("H", "cancelled", (0, 11), [tee(2500, cost=1150)], 395, 2895, 1),
    ("I", "refunded", (3, 11), [tee(2500, cost=1150)], 395, 2895, None),
    ("J", "pending_payment", None, [tee(2500, cost=1150)], 395, 0, None),
]


def line_revenue(lines, shipping, refunded):  # type: ignore[no-untyped-def]
    return sum(ln["line_total"] for ln in lines if ln["kind"] == "product") + shipping - refunded


def margin(lines, shipping, refunded):  # type: ignore[no-untyped-def]
    total = sum(ln["line_total"] for ln in lines) + shipping
    goods = sum(
        ln["line_total"] - ln["vat_amount"] - ln["provider_cost"] * ln["quantity"] for ln in lines if ln["kind"] == "product"
    )
    return goods - card_fee(total) - refunded


def seed(db):  # type: ignore[no-untyped-def]
    stories = [Article(slug="story-one", title="Story one"), Article(slug="story-two", title="Story two")]
    db.add_all(stories)
    db.flush()
    made = {}
    for name, status, paid, lines, shipping, refunded, story in ORDERS:
        paid_at = at(*paid) if paid else None
        made[name] = make_order(
            db,
            number=f"RR-{name}",
            status=status,
            paid_at=paid_at,
            created_at=paid_at or at(0, 12),
            lines=lines,
            shipping=shipping,
            refunded=refunded,
            article_id=stories[story - 1].id if story else None,
            fulfilment=("manual", "pending") if name == "B" else ("manual", "shipped") if name == "A" else None,
            refund_pending=300 if name == "B" else 0,
        )
    donation(db, "one_off", 1000, at(0, 8))
    donation(db, "monthly", 500, at(3, 6))
    donation(db, "one_off", 2000, at(20, 9))
    donation(db, "monthly", 700, at(8, 9))  # the week before
    db.add(NewsletterIssue(subject="Weekly", status="sending"))
    db.add(NewsletterIssue(subject="Old", status="sent"))
    db.commit()
    return made


def expected():  # type: ignore[no-untyped-def]
    """Every figure, by hand: which orders fall in which window is written out, not computed."""
    rows = {o[0]: o for o in ORDERS}

    def totals(names):  # type: ignore[no-untyped-def]
        picked = [rows[n] for n in names]
        return (
            len(picked),
            sum(line_revenue(o[3], o[4], o[5]) for o in picked),
            sum(margin(o[3], o[4], o[5]) for o in picked),
        )

    return {
        # today since midnight: A (09:00) and B (14:00); yesterday up to 15:00: C (10:00), not D (16:00)
        "today": (totals("AB"), totals("C")),
        # 26 Nov 00:00 to now: A-E; the 7 days before (19 Nov 00:00 to 25 Nov 15:00): F (22 Nov)
        "week": (totals("ABCDE"), totals("F")),
        # 3 Nov 00:00 to now: A-F; the 30 days before (4 Oct 00:00 to 2 Nov 15:00): G (23 Oct)
        "month": (totals("ABCDEF"), totals("G")),
    }
