"""Staff dashboard speed at 100,000 orders: seed a scratch database, then time /staff cold and warm.

    .venv/bin/python bench/dashboard_bench.py [--orders 100000] [--database-url URL] [--rounds 5]

What it does: makes a scratch SQLite database in a temporary folder (or uses --database-url, whose
schema it empties first: give it a database of its own), runs the migrations, and bulk-inserts
--orders orders over the last 365 days (1-3 lines each, some round-ups, every status, a fifth of
them attributed to one of 50 stories), with their fulfilment rows, pending refunds, 5,000 donation
payments and a few newsletter issues. Then, in one process (no network, no other load of ours):

* each panel's query on its own (median of --rounds), cache off;
* GET /staff as the owner, cold (the cache emptied before each request) and warm (cached), through
  the ASGI app with a real login.

Prints the figures; --json FILE writes them too. Everything temporary is removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
STATUSES = [
    ("delivered", 50),
    ("shipped", 20),
    ("submitted", 5),
    ("in_production", 3),
    ("paid", 5),
    ("on_hold", 1),
    ("cancelled", 3),
    ("refunded", 3),
    ("pending_payment", 10),
]
BATCH = 5000


def configure(database_url: str | None, scratch: Path) -> str:
    url = database_url or f"sqlite:///{scratch / 'dashboard.db'}"
    os.environ.update(
        STORE_DATABASE_URL=url,
        STORE_MEDIA_DIR=str(scratch / "media"),
        STORE_OUTBOX_DIR=str(scratch / "outbox"),
        STORE_ENV="dev",
        STORE_SECRET_KEY="bench-secret-key-" + "x" * 32,
    )
    os.environ.pop("STORE_REDIS_URL", None)
    return url


def seed(count: int, now: datetime) -> dict[str, float]:
    from sqlalchemy import text

    from catalog.models import Collection, Product, Variant
    from store.db import get_engine
    from store.donation.models import Donation, DonationPayment
    from store.fulfilment.models import Fulfilment
    from store.news.models import Article
    from store.newsletter.models import NewsletterIssue
    from store.order.models import Order, OrderLine, Refund

    rng = random.Random(12)
    engine = get_engine()
    started = time.perf_counter()
    statuses = [s for s, weight in STATUSES for _ in range(weight)]
    with engine.begin() as conn:
        conn.execute(
            Collection.__table__.insert(), [{"slug": "t-shirts", "title": "T-shirts", "position": 0}]
        )
        collection_id = conn.execute(text("SELECT id FROM collection")).scalar_one()
        products = [
            {
                "slug": f"bench-{i}",
                "title": f"Bench tee {i}",
                "description": "",
                "collection_id": collection_id,
                "price": 2500,
                "currency": "GBP",
                "vat_rate_bp": 2000,
                "is_published": True,
                "position": i,
                "created_at": now,
                "updated_at": now,
            }
            for i in range(200)
        ]
        conn.execute(Product.__table__.insert(), products)
        product_ids = [r[0] for r in conn.execute(text("SELECT id FROM product ORDER BY id"))]
        conn.execute(
            Variant.__table__.insert(),
            [
                {
                    "product_id": pid,
                    "sku": f"BENCH-{pid}-{size}",
                    "options": {"size": size, "colour": "Black"},
                    "provider_cost": 1150,
                    "print_file_url": "",
                    "is_available": True,
                    "position": n,
                }
                for pid in product_ids
                for n, size in enumerate(("S", "M", "L", "XL"))
            ],
        )
        variants = [(r[0], r[1]) for r in conn.execute(text("SELECT id, product_id FROM variant"))]
        conn.execute(
            Article.__table__.insert(),
            [
                {
                    "slug": f"story-{i}",
                    "title": f"Story {i}",
                    "standfirst": "",
                    "body_md": "",
                    "hero_alt": "",
                    "hero_credit": "",
                    "sensitive": False,
                    "published_at": now,
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(50)
            ],
        )
        article_ids = [r[0] for r in conn.execute(text("SELECT id FROM article"))]
        next_id = 1
        for first in range(0, count, BATCH):
            orders, lines, fulfilments, refunds = [], [], [], []
            for n in range(first, min(count, first + BATCH)):
                status = rng.choice(statuses)
                placed = now - timedelta(seconds=rng.randint(0, 365 * 86400))
                items = []
                for _ in range(rng.choice((1, 1, 1, 2, 2, 3))):
                    variant_id, _pid = rng.choice(variants)
                    qty = rng.choice((1, 1, 1, 2))
                    items.append(
                        {
                            "order_id": next_id,
                            "kind": "product",
                            "sku": f"BENCH-{variant_id}",
                            "variant_id": variant_id,
                            "product_title": "Bench tee",
                            "options": {"size": "M"},
                            "quantity": qty,
                            "unit_price": 2500,
                            "discount_amount": 0,
                            "line_total": 2500 * qty,
                            "vat_rate_bp": 2000,
                            "vat_amount": 417 * qty,
                            "provider_cost": 1150,
                            "print_file_url": "",
                        }
                    )
                if rng.random() < 0.1:
                    items.append(
                        {
                            "order_id": next_id,
                            "kind": "donation",
                            "sku": "",
                            "variant_id": None,
                            "product_title": "Round-up",
                            "options": {},
                            "quantity": 1,
                            "unit_price": 55,
                            "discount_amount": 0,
                            "line_total": 55,
                            "vat_rate_bp": 0,
                            "vat_amount": 0,
                            "provider_cost": 0,
                            "print_file_url": "",
                        }
                    )
                total = sum(i["line_total"] for i in items) + 395
                orders.append(
                    {
                        "id": next_id,
                        "number": f"RB{n:07d}",
                        "token": f"bench-token-{n}",
                        "status": status,
                        "email": f"s{n}@example.org",
                        "full_name": "Bench Shopper",
                        "address_line1": "1 Road",
                        "address_line2": "",
                        "town": "Leeds",
                        "postcode": "LS1 1AA",
                        "country": "GB",
                        "currency": "GBP",
                        "subtotal": total - 395,
                        "discount_amount": 0,
                        "shipping_name": "UK",
                        "shipping_amount": 395,
                        "shipping_vat_amount": 66,
                        "vat_amount": 483,
                        "total": total,
                        "amount_refunded": total if status == "refunded" else 0,
                        "attribution_article_id": rng.choice(article_ids) if rng.random() < 0.2 else None,
                        "created_at": placed,
                        "updated_at": placed,
                        "paid_at": None if status == "pending_payment" else placed + timedelta(minutes=2),
                    }
                )
                lines += items
                if status not in ("pending_payment",):
                    fulfilments.append(
                        {
                            "order_id": next_id,
                            "provider": "manual",
                            "status": "pending" if status == "paid" else "shipped",
                            "attempts": 0,
                            "last_error": "",
                            "reason": "",
                            "provider_status": "",
                            "created_at": placed,
                            "updated_at": placed,
                        }
                    )
                if status == "paid" and rng.random() < 0.05:
                    refunds.append(
                        {
                            "order_id": next_id,
                            "idempotency_key": f"bench-refund-{n}",
                            "amount": 500,
                            "reason": "",
                            "staff_email": "",
                            "status": "pending",
                            "failure_message": "",
                            "created_at": placed,
                            "updated_at": placed,
                        }
                    )
                next_id += 1
            conn.execute(Order.__table__.insert(), orders)
            conn.execute(OrderLine.__table__.insert(), lines)
            conn.execute(Fulfilment.__table__.insert(), fulfilments)
            if refunds:
                conn.execute(Refund.__table__.insert(), refunds)
        donations = [
            {
                "reference": f"bench-donation-{i:06d}",
                "kind": "one_off" if i % 3 else "monthly",
                "status": "succeeded",
                "amount": 1000,
                "currency": "GBP",
                "email": "d@example.org",
                "full_name": "D",
                "attempts": 1,
                "idempotency_key": "",
                "payment_method": "",
                "failure_message": "",
                "created_at": now,
                "updated_at": now,
            }
            for i in range(5000)
        ]
        conn.execute(Donation.__table__.insert(), donations)
        donation_ids = [r[0] for r in conn.execute(text("SELECT id FROM donation"))]
        conn.execute(
            DonationPayment.__table__.insert(),
            [
                {
                    "donation_id": d,
                    "external_id": f"bench-pay-{d}",
                    "amount": 1000,
                    "currency": "GBP",
                    "paid_at": now - timedelta(seconds=rng.randint(0, 365 * 86400)),
                }
                for d in donation_ids
            ],
        )
        conn.execute(
            NewsletterIssue.__table__.insert(),
            [
                {
                    "subject": f"Issue {i}",
                    "intro": "",
                    "article_ids": [],
                    "product_ids": [],
                    "status": "sending" if i == 0 else "sent",
                    "created_by": "",
                    "created_at": now,
                }
                for i in range(5)
            ],
        )
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    return {"seed_seconds": round(time.perf_counter() - started, 1)}


def timed(fn: Any, rounds: int) -> tuple[float, float]:
    """Median wall-clock and median CPU milliseconds of this process (SQLite runs inside it, so CPU
    time is the work itself and hardly moves with other load on the machine; on PostgreSQL the
    server's work is not in it)."""
    walls, cpus = [], []
    for _ in range(rounds):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append((time.perf_counter() - wall) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
    return round(statistics.median(walls), 1), round(statistics.median(cpus), 1)


def measure(rounds: int, now: datetime) -> dict[str, float]:
    from fastapi.testclient import TestClient
    from sqlmodel import select

    from store import cache
    from store.app import create_app
    from store.auth.models import StaffUser
    from store.auth.service import create_staff
    from store.db import unit_of_work
    from store.staff import dashboard

    with unit_of_work() as session:
        if session.exec(select(StaffUser)).first() is None:
            create_staff(
                session, email="bench-owner@example.org", password="bench-owner-password", role="owner"
            )
    figures: dict[str, float] = {}
    with unit_of_work(write=False) as session:
        owner = session.exec(select(StaffUser)).one()
        for name, fn in [
            ("shop_figures", lambda: dashboard.shop_figures(session, now)),
            ("donation_figures", lambda: dashboard.donation_figures(session, now)),
            ("daily_chart", lambda: dashboard.daily(session, now)),
            ("top_products", lambda: dashboard.top_products(session, now)),
            ("top_stories", lambda: dashboard.top_stories(session, now)),
            ("needs_action", lambda: dashboard.needs_action(session, owner)),
        ]:
            figures[f"query_{name}_ms"], figures[f"query_{name}_cpu_ms"] = timed(fn, rounds)
    client = TestClient(create_app(), raise_server_exceptions=True)
    page = client.get("/staff/login")
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    answer = client.post(
        "/staff/login",
        data={"email": "bench-owner@example.org", "password": "bench-owner-password", "csrf_token": token},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text

    def cold() -> None:
        cache.backend().clear()
        assert client.get("/staff").status_code == 200

    def warm() -> None:
        assert client.get("/staff").status_code == 200

    warm()
    figures["page_cold_ms"], figures["page_cold_cpu_ms"] = timed(cold, rounds)
    warm()
    figures["page_warm_ms"], figures["page_warm_cpu_ms"] = timed(warm, rounds * 4)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--database-url", default=None, help="a database of its own (its schema is emptied)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", default=None)
    parser.add_argument("--keep-db", default=None, help="SQLite file to seed once and reuse on later runs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dashboard-bench-") as tmp:
        kept = Path(args.keep_db).resolve() if args.keep_db else None
        url = configure(args.database_url or (f"sqlite:///{kept}" if kept else None), Path(tmp))
        reuse = kept is not None and kept.exists()
        from sqlalchemy import text

        from store.config import get_settings
        from store.db import get_engine
        from store.migrate import upgrade

        if url.startswith("postgresql") and not reuse:
            with get_engine().begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        upgrade(get_settings())
        now = datetime.now(UTC)
        figures: dict[str, Any] = {"orders": args.orders, "database": url.split(":", 1)[0]}
        if not reuse:
            print(f"seeding {args.orders:,} orders into {figures['database']} …", flush=True)
        if not reuse:
            figures.update(seed(args.orders, now))
        figures.update(measure(args.rounds, now))
        get_engine().dispose()
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
