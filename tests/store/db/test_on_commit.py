"""After-commit actions are scoped like the transactions they were registered in (issue 14.3)."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from store.db import on_commit, unit_of_work


@pytest.fixture
def ran() -> list[str]:
    return []


def note(ran: list[str], name: str):  # type: ignore[no-untyped-def]
    return lambda: ran.append(name)


def test_an_action_runs_once_after_the_commit(engine: Engine, ran: list[str]) -> None:
    with unit_of_work(engine) as session:
        on_commit(session, note(ran, "a"))
        session.flush()
        assert ran == []
    assert ran == ["a"]


def test_an_action_never_runs_when_the_transaction_rolls_back(engine: Engine, ran: list[str]) -> None:
    with pytest.raises(RuntimeError), unit_of_work(engine) as session:
        on_commit(session, note(ran, "a"))
        raise RuntimeError("the request failed")
    assert ran == []
    with Session(engine) as session:  # nor when the session is closed without a commit
        on_commit(session, note(ran, "b"))
    assert ran == []


def test_an_action_of_a_savepoint_that_rolls_back_is_dropped(engine: Engine, ran: list[str]) -> None:
    with unit_of_work(engine) as session:
        on_commit(session, note(ran, "before"))
        with pytest.raises(RuntimeError), session.begin_nested():
            on_commit(session, note(ran, "in the failed savepoint"))
            raise RuntimeError("handler failed")
        on_commit(session, note(ran, "after"))
    assert ran == ["before", "after"]


def test_an_action_of_a_released_savepoint_waits_for_the_real_commit(engine: Engine, ran: list[str]) -> None:
    with unit_of_work(engine) as session:
        with session.begin_nested():
            on_commit(session, note(ran, "in the savepoint"))
        assert ran == []  # released, but the outer transaction is still open
        on_commit(session, note(ran, "after"))
    assert ran == ["in the savepoint", "after"]


def test_a_released_savepoint_inside_one_that_rolls_back_loses_its_actions(
    engine: Engine, ran: list[str]
) -> None:
    with unit_of_work(engine) as session:
        with pytest.raises(RuntimeError), session.begin_nested():
            with session.begin_nested():
                on_commit(session, note(ran, "inner, released"))
            on_commit(session, note(ran, "outer savepoint"))
            raise RuntimeError("the outer savepoint fails")
        with session.begin_nested(), session.begin_nested():
            on_commit(session, note(ran, "kept, two levels down"))
    assert ran == ["kept, two levels down"]


def test_released_savepoints_run_nothing_when_the_transaction_rolls_back(
    engine: Engine, ran: list[str]
) -> None:
    with pytest.raises(RuntimeError), unit_of_work(engine) as session:
        with session.begin_nested():
            on_commit(session, note(ran, "released"))
        raise RuntimeError("the job failed after the savepoint")
    assert ran == []


def test_each_action_runs_once_even_over_several_commits(engine: Engine, ran: list[str]) -> None:
    with Session(engine) as session:
        on_commit(session, note(ran, "first"))
        session.commit()
        on_commit(session, note(ran, "second"))
        session.commit()
        session.commit()
    assert ran == ["first", "second"]


# --- through the webhook pipeline: handlers run in a savepoint ------------------------------------


@pytest.fixture
def handler_for_test_events():  # type: ignore[no-untyped-def]
    from store.webhook import service as webhook_service

    key = ("test", "test.event")
    yield lambda fn: webhook_service.handles(*key)(fn)
    webhook_service._HANDLERS.pop(key, None)


def test_a_failing_webhook_handler_leaves_no_write_and_no_push(
    engine: Engine, db: Session, ran: list[str], handler_for_test_events
) -> None:  # type: ignore[no-untyped-def]
    from store.newsletter.models import Subscriber
    from store.webhook.models import InboundEvent
    from store.webhook.service import store_inbound
    from store.webhook.tasks import process_now

    calls: list[int] = []

    @handler_for_test_events
    def fails_after_writing(session: Session, event: InboundEvent) -> None:
        session.add(Subscriber(email=f"w{len(calls)}@example.org"))
        session.flush()
        on_commit(session, note(ran, "push"))
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("provider said no")

    with unit_of_work(engine) as session:
        event_id = store_inbound(session, source="test", external_id="e1", type="test.event", payload={})
    assert event_id is not None

    # when the handler fails: nothing it wrote or queued survives, and the row says why
    assert process_now(event_id) is False
    db.expire_all()
    failed = db.get(InboundEvent, event_id)
    assert failed is not None
    assert (failed.processed_at, failed.attempts, failed.error) == (None, 1, "RuntimeError: provider said no")
    assert db.exec(select(Subscriber)).all() == []
    assert ran == []

    # and when it is retried and succeeds: its write and its push, once
    assert process_now(event_id) is True
    db.expire_all()
    done = db.get(InboundEvent, event_id)
    assert done is not None and done.processed_at is not None and (done.attempts, done.error) == (2, "")
    assert [s.email for s in db.exec(select(Subscriber)).all()] == ["w1@example.org"]
    assert ran == ["push"]


def test_a_webhook_event_is_logged_processed_once_committed_and_outside_the_write_lock(
    engine: Engine, handler_for_test_events, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    import logging

    import store.db
    from store.db import holds_write_lock
    from store.webhook.service import store_inbound
    from store.webhook.tasks import process_now

    @handler_for_test_events
    def does_its_work(session: Session, event: object) -> None:
        pass

    said: list[tuple[str, bool]] = []  # each line, and whether SQLite's write lock was held writing it

    class Said(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            said.append((record.getMessage(), holds_write_lock()))

    with unit_of_work(engine) as session:
        event_id = store_inbound(session, source="test", external_id="e1", type="test.event", payload={})
    assert event_id is not None
    caplog.set_level(logging.INFO, logger="store.webhook")
    listener = Said()
    logging.getLogger("store.webhook").addHandler(listener)
    try:
        # a commit that fails: the event is not processed, and no line says it was
        with pytest.MonkeyPatch.context() as patch:

            def disk_full(self: Session) -> None:
                raise RuntimeError("disk full")

            patch.setattr(store.db.Session, "commit", disk_full)
            with pytest.raises(RuntimeError, match="disk full"):
                process_now(event_id)
        assert said == []
        # the retry commits, then says so, with the lock let go
        assert process_now(event_id) is True
        assert said == [("webhook event processed", False)]
    finally:
        logging.getLogger("store.webhook").removeHandler(listener)
