"""Every write path hammered from 16 threads against real `serve --workers 2` processes.

Only 2xx/3xx/4xx answers, nothing lost, and no "database is locked" in any log: on SQLite (the write
gate in store/db.py) and on PostgreSQL (marked postgres; run with STORE_TEST_POSTGRES_URL).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session, func, select

from store.auth.models import StaffSession
from tests.conftest import csrf_from
from tests.factories import make_product
from tests.store.db.servers import Stack, running_stack

pytestmark = pytest.mark.slow
THREADS = 16


def hammer(worker: Callable[[int], list[Any]]) -> list[Any]:
    """Run `worker(i)` in 16 threads at once; every answer (status code or exception text), flattened."""
    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(lambda i: _guard(worker, i), range(THREADS)))
    return [answer for batch in results for answer in batch]


def _guard(worker: Callable[[int], list[Any]], i: int) -> list[Any]:
    try:
        return worker(i)
    except httpx.HTTPError as exc:  # a reset connection is the failure we are looking for
        return [f"{type(exc).__name__}: {exc}"]


def assert_clean(stack: Stack, answers: list[Any]) -> None:
    bad = [a for a in answers if not isinstance(a, int) or a >= 500]
    logs = stack.log_text()
    assert not bad, f"{len(bad)} failed answers, e.g. {bad[:3]}\n{logs[-3000:]}"
    assert "database is locked" not in logs, logs[-3000:]
    assert "Traceback" not in logs, logs[-3000:]


def count(db: Session, model: type, *where: Any) -> int:
    db.rollback()
    return int(db.exec(select(func.count()).select_from(model).where(*where)).one())  # type: ignore[call-overload]


def test_staff_login_from_16_threads(db: Session, make_staff: Callable[..., str], tmp_path: Path) -> None:
    # given four staff accounts
    emails = [make_staff("fulfilment", f"desk{n}@example.org") for n in range(4)]
    rounds = 5

    with running_stack(tmp_path) as stack:
        # when 16 browsers log in again and again, each looking at the orders after every login
        def browser(i: int) -> list[Any]:
            answers: list[Any] = []
            with httpx.Client(base_url=stack.base_url, timeout=60) as http:
                for _ in range(rounds):
                    token = csrf_from(http.get("/staff/login").text)
                    r = http.post(
                        "/staff/login",
                        data={
                            "email": emails[i % 4],
                            "password": "correct-horse-battery",
                            "csrf_token": token,
                        },
                    )
                    answers.append(r.status_code)
                    if r.status_code == 303:
                        answers.append(http.get("/staff/orders").status_code)
            return answers

        answers = hammer(browser)

    # then every login succeeded and its session worked, and each browser holds exactly one session
    assert_clean(stack, answers)
    assert answers.count(303) == THREADS * rounds, answers
    assert answers.count(200) == THREADS * rounds, answers
    assert count(db, StaffSession) == THREADS


def test_add_to_cart_from_16_threads(db: Session, tmp_path: Path) -> None:
    from store.cart.models import Cart, CartLine

    # given a shirt in two sizes
    make_product(db, "Hammer shirt", slug="hammer-shirt", sizes="S, M", colours="Black")
    visitors_per_thread = 3

    with running_stack(tmp_path) as stack:
        # when 16 threads each bring 3 new visitors, who add size S twice and size M once
        def shoppers(i: int) -> list[Any]:
            answers: list[Any] = []
            for _ in range(visitors_per_thread):
                with httpx.Client(base_url=stack.base_url, timeout=60) as http:
                    token = csrf_from(http.get("/shop/hammer-shirt").text)
                    for size in ("S", "M", "S"):
                        r = http.post(
                            "/cart/add",
                            data={
                                "csrf_token": token,
                                "product": "hammer-shirt",
                                "size": size,
                                "colour": "Black",
                                "quantity": "1",
                            },
                        )
                        answers.append(r.status_code)
            return answers

        answers = hammer(shoppers)

        # and one visitor double-clicks in 16 tabs at once: add one size L each
        with httpx.Client(base_url=stack.base_url, timeout=60) as http:
            token = csrf_from(http.get("/shop/hammer-shirt").text)
            first = http.post(
                "/cart/add",
                data={
                    "csrf_token": token,
                    "sku": "",
                    "product": "hammer-shirt",
                    "size": "S",
                    "colour": "Black",
                    "quantity": "1",
                },
            )
            cookies = dict(http.cookies)

        def tab(i: int) -> list[Any]:
            with httpx.Client(base_url=stack.base_url, timeout=60, cookies=cookies) as http:
                data = {
                    "csrf_token": token,
                    "product": "hammer-shirt",
                    "size": "M",
                    "colour": "Black",
                    "quantity": "1",
                }
                return [http.post("/cart/add", data=data).status_code]

        answers += [first.status_code, *hammer(tab)]

    # then every add was answered with a redirect to the cart, and every cart holds exactly what was added
    assert_clean(stack, answers)
    assert answers == [303] * (THREADS * visitors_per_thread * 3 + 1 + THREADS)
    carts = THREADS * visitors_per_thread + 1
    assert count(db, Cart) == carts
    lines = db.exec(select(CartLine)).all()
    by_cart: dict[int, dict[str, int]] = {}
    for line in lines:
        by_cart.setdefault(line.cart_id, {})[line.sku] = line.quantity
    assert len(by_cart) == carts
    assert sorted(sorted(found.values()) for found in by_cart.values()) == [[1, 2]] * (carts - 1) + [[1, 16]]


def test_stripe_and_printful_webhooks_from_16_threads(db: Session, tmp_path: Path) -> None:
    from store.fulfilment.models import Fulfilment, Shipment
    from store.mail.models import OutboundEmail
    from store.order.models import Order, OrderEvent
    from store.webhook.models import InboundEvent
    from tests.factories import make_paid_order
    from tests.fakes.printful import spawn_fake_printful
    from tests.fakes.stripe_events import intent_event, sign

    secret, token = "pf-hammer-secret", "pf-hammer-token"
    orders = [make_paid_order(db, paid=False) for _ in range(20)]
    numbers = sorted(o.number for o in orders)
    env = {
        "STORE_FULFILMENT": "printful",
        "STORE_PRINTFUL_TOKEN": token,
        "STORE_PRINTFUL_WEBHOOK_SECRET": secret,
    }
    with spawn_fake_printful(token=token) as printful:
        env["STORE_PRINTFUL_API_BASE"] = printful.base_url
        with running_stack(tmp_path, job_worker=True, env=env) as stack:
            # when Stripe says each order is paid under two event ids, each delivered twice, at once
            deliveries: list[tuple[str, bytes, dict[str, str]]] = []
            for order in orders:
                for event_id in (f"evt_{order.number}_a", f"evt_{order.number}_b"):
                    body = intent_event(
                        "payment_intent.succeeded",
                        intent_id=f"pi_test_{order.number}",
                        amount=order.total,
                        event_id=event_id,
                    )
                    headers = {"Stripe-Signature": sign(body), "Content-Type": "application/json"}
                    deliveries += [("/webhooks/stripe", body, headers)] * 2
            answers = _deliver(stack, deliveries)
            _wait_for(lambda: sorted(printful.orders) == numbers, "every order at the printer")

            # and Printful says each one has shipped, each delivered three times, at once
            shipped = []
            for n, number in enumerate(numbers):
                printful.ship(number, carrier="Royal Mail", tracking_number=f"RM{n:09d}GB")
                body, headers = printful.webhook("package_shipped", number, secret=secret)
                shipped += [("/webhooks/printful", body, headers)] * 3
            answers += _deliver(stack, shipped)
            _wait_for(lambda: count(db, Shipment) == 20 and _all_processed(db), "every shipment recorded")
            printer_posts = printful.count("POST /orders")

    # then every delivery was answered, each distinct event stored and processed once, and each
    # order was paid once, printed once, shipped once, and mailed about each once
    assert_clean(stack, answers)
    assert sorted(set(answers)) == [200], answers
    assert count(db, InboundEvent) == 20 * 2 + 20
    events = db.exec(select(InboundEvent)).all()
    assert {(e.attempts, e.error) for e in events} == {(1, "")}
    assert printer_posts == 20
    paid = db.exec(select(OrderEvent).where(OrderEvent.to_status == "paid")).all()
    assert sorted(e.order_id for e in paid) == sorted(o.id for o in orders)
    assert count(db, Fulfilment) == 20
    assert {o.status for o in db.exec(select(Order)).all()} == {"shipped"}
    keys = [e.key for e in db.exec(select(OutboundEmail)).all()]
    assert len(keys) == len(set(keys)) == 40  # a confirmation and a shipment email per order


def _deliver(stack: Stack, deliveries: list[tuple[str, bytes, dict[str, str]]]) -> list[Any]:
    import random

    shuffled = random.sample(deliveries, len(deliveries))
    chunks = [shuffled[i::THREADS] for i in range(THREADS)]

    def sender(i: int) -> list[Any]:
        with httpx.Client(base_url=stack.base_url, timeout=60) as http:
            return [
                http.post(path, content=body, headers=headers).status_code
                for path, body, headers in chunks[i]
            ]

    return hammer(sender)


def _all_processed(db: Session) -> bool:
    from store.webhook.models import InboundEvent

    return count(db, InboundEvent, InboundEvent.processed_at.is_(None)) == 0  # type: ignore[union-attr]


def _wait_for(check: Callable[[], bool], what: str, timeout: float = 90) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.25)
