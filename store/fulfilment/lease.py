"""The claim on a fulfilment row while someone talks to the provider about it: a short lease, renewed.

Exactly one worker (or staff action) may talk to the provider about a row at a time. It takes the row
with `claim` (a conditional UPDATE to `submitting` with `lease_until`, committed BEFORE the call), holds
it with a `Heartbeat` while the call runs, and ends it with `release` in the transaction that records
the answer. The lease is short (STORE_FULFILMENT_LEASE_SECONDS, 45 s by default) and the heartbeat
renews it every third of that, so:

* a slow call (Printful's Retry-After, timeouts and retries can take minutes) keeps its row: nobody
  takes a row whose heartbeat is beating, so nothing is sent twice;
* a worker killed mid-call stops beating, its lease runs out within 45 s, and the watchdog job
  scheduled at claim time (store.fulfilment.tasks) hands the row to another worker within a minute.

Each renewal is one conditional UPDATE on OUR lease (`… WHERE status = 'submitting' AND lease_until =
:ours`) in its own tiny transaction, on the heartbeat's own thread: the thread making the call holds no
transaction, so the renewal never waits on a write lock this thread already holds.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from store.config import get_settings
from store.db import unit_of_work
from store.fulfilment.models import FULFILMENT_MOVES, Fulfilment, FulfilmentStatus
from store.timeutil import utcnow

log = logging.getLogger("store.fulfilment")
F = FulfilmentStatus
WATCHDOG_SLACK = timedelta(seconds=1)  # the watchdog job runs this long after a lease would end


def lease_length() -> timedelta:
    """How long one holder may keep a row without renewing it (env for tests and operators)."""
    return timedelta(seconds=get_settings().fulfilment_lease_seconds)


def heartbeat_interval() -> float:
    """Renew at a third of the lease, so two renewals can be late before anyone may take over."""
    return max(lease_length().total_seconds() / 3, 0.05)


def claim(
    session: Session,
    *,
    fulfilment_id: int,
    now: datetime | None = None,
    from_statuses: frozenset[FulfilmentStatus] = frozenset({F.pending}),
    count_attempt: bool = True,
    only_due: bool = True,
) -> datetime | None:
    """Take the row: from one of `from_statuses` (pending rows only once due), or `submitting` whose
    lease has run out (its holder died). Returns our lease (its end, which also names this claim), or
    None when someone else holds it or it has moved on. The caller COMMITS before calling the provider.

    Workers claim pending rows when due; staff actions (approve, cancel) claim the row from where it
    stands (`only_due=False`, `count_attempt=False`: they are not submission attempts).
    """
    allowed = {s for s in from_statuses if F.submitting in FULFILMENT_MOVES[s]}
    now = now or utcnow()
    lease = now + lease_length()
    due = col(Fulfilment.next_attempt_at).is_(None) | (col(Fulfilment.next_attempt_at) <= now)
    pending = col(Fulfilment.status) == F.pending
    takeable = (pending & due if only_due else pending) if F.pending in allowed else None
    others = allowed - {F.pending}
    if others:
        from_others = col(Fulfilment.status).in_(sorted(others))
        takeable = from_others if takeable is None else takeable | from_others
    abandoned = (col(Fulfilment.status) == F.submitting) & (col(Fulfilment.lease_until) < now)
    condition = abandoned if takeable is None else takeable | abandoned
    values: dict[str, Any] = {"status": F.submitting, "lease_until": lease, "updated_at": now}
    if count_attempt:
        values["attempts"] = Fulfilment.attempts + 1
    result = session.execute(
        update(Fulfilment).where(col(Fulfilment.id) == fulfilment_id, condition).values(**values)
    )
    return lease if result.rowcount == 1 else None  # type: ignore[attr-defined]


def release(session: Session, row: Fulfilment, lease: datetime, *, status: str, **values: Any) -> bool:
    """End our claim, moving the row to `status`: only if it is still ours (submitting, our lease)."""
    if FulfilmentStatus(status) not in FULFILMENT_MOVES[F.submitting]:
        raise ValueError(f"a claim cannot end in {status}")
    values.setdefault("lease_until", None)
    values.setdefault("updated_at", utcnow())
    result = session.execute(
        update(Fulfilment)
        .where(
            col(Fulfilment.id) == row.id,
            col(Fulfilment.status) == F.submitting,
            col(Fulfilment.lease_until) == lease,
        )
        .values(status=status, **values)
    )
    session.refresh(row)
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def renew(fulfilment_id: int, lease: datetime, *, engine: Engine | None = None) -> datetime | None:
    """Push our lease on by a full length, in its own tiny transaction. None: it is no longer ours."""
    new = utcnow() + lease_length()
    with unit_of_work(engine) as session:
        result = session.execute(
            update(Fulfilment)
            .where(
                col(Fulfilment.id) == fulfilment_id,
                col(Fulfilment.status) == F.submitting,
                col(Fulfilment.lease_until) == lease,
            )
            .values(lease_until=new)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return None
    return new


class Heartbeat:
    """Renew a claim in the background while the provider call runs in this thread.

        with Heartbeat(row_id, lease) as beat:
            answer = provider.submit_order(request)     # no transaction open here
        lease = beat.lease                              # the latest lease: release() needs it

    Stopped (and joined) on exit, so no renewal can race the transaction that records the answer.
    """

    def __init__(self, fulfilment_id: int, lease: datetime, *, engine: Engine | None = None) -> None:
        self.fulfilment_id = fulfilment_id
        self.lease = lease
        self.lost = False  # True if the claim was taken from us (we were stalled past the lease)
        self._engine = engine
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"fulfilment-lease-{fulfilment_id}", daemon=True
        )

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        interval = heartbeat_interval()
        while not self._stop.wait(interval):
            try:
                renewed = renew(self.fulfilment_id, self.lease, engine=self._engine)
            except Exception:  # a failed renewal is retried at the next beat; the lease has slack
                log.warning("lease renewal failed", extra={"fulfilment": self.fulfilment_id}, exc_info=True)
                continue
            if renewed is None:
                self.lost = True
                log.warning("lease lost while calling the provider", extra={"fulfilment": self.fulfilment_id})
                return
            self.lease = renewed
