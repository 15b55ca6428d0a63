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
    emails = [make_staff("fulfilment", f"desk{n}@staff.test") for n in range(4)]
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
                        data={"email": emails[i % 4], "password": "correct-horse-battery", "csrf_token": token},
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
