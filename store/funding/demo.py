"""Demo data for the funding page: six months of costs and some donations (test-mode, no Stripe)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import Session

from store.demo.articles import LAUNCH_SLUG
from store.donation.models import Donation, DonationPayment
from store.funding.models import MonthlyCost
from store.funding.service import previous_month, this_month
from store.news import repository as news

COSTS = {"hosting": 4500, "subscriptions": 3800, "photo_media": 2900, "newswire": 6000, "marketing": 2500}
ONE_OFF = [("Ada Byron", 500), ("Tom Paine", 1000), ("Sylvia Pankhurst", 2500), ("Keir Hardie", 500)]
MONTHLY = [("Rosa Luxemburg", 500), ("William Morris", 1000), ("Ellen Wilkinson", 300)]


def load_demo(session: Session) -> None:
    month = this_month()
    months = [month]
    for _ in range(5):
        months.append(previous_month(months[-1]))
    for i, m in enumerate(months):
        for category, pence in COSTS.items():
            # marketing varies a little, so the history isn't flat
            amount = pence + (i * 250 if category == "marketing" else 0)
            session.add(MonthlyCost(month=m, category=category, amount=amount, updated_by="demo"))
    launch = news.by_slug(session, LAUNCH_SLUG)
    now = datetime.now(UTC)
    for n, (name, pence) in enumerate(ONE_OFF):
        paid = now - timedelta(days=n * 9, hours=1)
        donation = Donation(
            reference=f"demo-one-off-{n:02d}-xxxxxxxx",
            kind="one_off",
            status="succeeded",
            amount=pence,
            email=f"donor{n}@example.org",
            full_name=name,
            succeeded_at=paid,
            created_at=paid,
            article_id=launch.id if launch is not None and n % 2 == 0 else None,
            intent_id=f"pi_demo_{n}",
        )
        session.add(donation)
        session.flush()
        assert donation.id is not None
        session.add(
            DonationPayment(donation_id=donation.id, external_id=f"pi_demo_{n}", amount=pence, paid_at=paid)
        )
    for n, (name, pence) in enumerate(MONTHLY):
        started = datetime(months[-1].year, months[-1].month, 3 + n, 10, tzinfo=UTC)
        donation = Donation(
            reference=f"demo-monthly-{n:02d}-xxxxxxxx",
            kind="monthly",
            status="active",
            amount=pence,
            email=f"supporter{n}@example.org",
            full_name=name,
            succeeded_at=started,
            created_at=started,
            subscription_id=f"sub_demo_{n}",
        )
        session.add(donation)
        session.flush()
        assert donation.id is not None
        for m in months:
            paid = datetime(m.year, m.month, 3 + n, 10, tzinfo=UTC)
            if paid <= now:
                session.add(
                    DonationPayment(
                        donation_id=donation.id,
                        external_id=f"sub_demo_{n}:{paid.date().isoformat()}",
                        amount=pence,
                        paid_at=paid,
                    )
                )
    session.flush()
