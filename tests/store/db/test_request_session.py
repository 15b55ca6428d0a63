"""The request's session (store.deps.Db): committed when the handler returns, rolled back before the
answer when it raises, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from store.cart.models import Cart
from store.db import get_engine
from store.deps import Db, WriteDb, commit_in_handler_thread


def _app() -> FastAPI:
    app = FastAPI()

    @app.post("/write-then-fail")
    def write_then_fail(db: Db) -> None:
        db.add(Cart(token="never-kept"))
        db.flush()  # on SQLite this takes the write lock
        raise RuntimeError("the handler failed after writing")

    @app.post("/write-then-fail-rmw")
    def write_then_fail_rmw(db: WriteDb) -> None:
        db.add(Cart(token="never-kept-either"))
        db.flush()
        raise RuntimeError("the handler failed after writing")

    @app.post("/write")
    def write(db: Db) -> dict[str, str]:
        db.add(Cart(token="kept"))
        return {"ok": "yes"}

    commit_in_handler_thread(app.router)
    return app


@pytest.mark.parametrize("path", ["/write-then-fail", "/write-then-fail-rmw"])
def test_a_failed_handler_is_rolled_back_before_its_answer(db: Session, path: str) -> None:
    client = TestClient(_app(), raise_server_exceptions=False)
    db.rollback()
    in_use = get_engine().pool.checkedout()

    assert client.post(path).status_code == 500

    # By the time the answer is out, the connection is back in the pool: rolled back (on SQLite the
    # write lock let go), not left open until the garbage collector finds the session.
    assert get_engine().pool.checkedout() == in_use
    db.rollback()
    assert db.exec(select(Cart)).all() == []


def test_a_handler_that_returns_is_committed(db: Session) -> None:
    client = TestClient(_app())

    assert client.post("/write").json() == {"ok": "yes"}

    db.rollback()
    assert [c.token for c in db.exec(select(Cart)).all()] == ["kept"]
