"""Request dependencies: the unit of work, the signed-in staff member, role checks."""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute
from sqlmodel import Session

from store.auth.models import Role, StaffUser
from store.auth.service import user_for_session
from store.db import has_work_to_commit, new_session
from store.errors import Forbidden, LoginRequired

STAFF_COOKIE = "rrm_staff"


REQUEST_SESSION = "storefront_request_session"


async def get_db() -> AsyncIterator[Session]:
    # Reads take no lock; on SQLite the first write takes the write lock until the commit (store.db).
    async with _request_session(write=False) as session:
        yield session


async def get_write_db() -> AsyncIterator[Session]:
    async with _request_session(write=True) as session:
        yield session


# A context manager, not a generator iterated with `async for`: an error in the handler must reach the
# `except` below (and roll back before the answer), not leave the generator for the collector to close.
@asynccontextmanager
async def _request_session(*, write: bool) -> AsyncIterator[Session]:
    """The request's unit of work, as `store.db.unit_of_work` but without two trips to the thread pool.

    A sync generator dependency is entered and left on FastAPI's thread pool: two hand-overs between
    the event loop and a worker thread per request, measured at ~0.5 ms of CPU each under load (more
    than the SQL of an add to cart). Making a Session does no I/O, and a sync handler's session is
    committed in the handler's own thread as it returns (`commit_in_handler_thread`), which hands the
    connection back to the pool; so here, usually, only `close()` is left, also without I/O. Whatever
    still holds a connection (an open transaction, or an error to roll back) goes to the pool thread:
    a COMMIT or ROLLBACK is I/O and must not block the event loop.
    """
    session = new_session(write=write)
    session.info[REQUEST_SESSION] = True
    try:
        yield session
    except BaseException:
        await run_in_threadpool(_roll_back_and_close, session)
        raise
    if has_work_to_commit(session):
        await run_in_threadpool(_commit_and_close, session)
    else:
        session.close()


def _commit_and_close(session: Session) -> None:
    try:
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _roll_back_and_close(session: Session) -> None:
    try:
        session.rollback()
    finally:
        session.close()


# scope="function": commit before the response is sent, so a failed commit is a 500, never a false 200.
# (In fact the commit comes sooner: see commit_in_handler_thread.)
Db = Annotated[Session, Depends(get_db, scope="function")]
# For handlers that must read inside the write transaction (carts, checkout): on SQLite the write lock
# is taken at the session's first statement. Keep them short: no rendering of big pages, no calls out.
# Such handlers must not open other write transactions of their own (store.db would refuse at once).
WriteDb = Annotated[Session, Depends(get_write_db, scope="function")]


def commit_in_handler_thread(router: APIRouter) -> None:
    """Commit the request's session as a sync handler returns, in the handler's own thread.

    FastAPI runs a sync dependency's teardown as a separate job on its thread pool, after the event
    loop has seen the handler finish: under load that hop can take milliseconds, all spent holding
    SQLite's write lock (bench/rush.py's gate stats showed ~0.4 ms of a 3.9 ms cart-add hold on a
    busy machine). Committing here lets the lock go as soon as the handler is done; the teardown then
    finds nothing left to commit. An exception in the handler still reaches the teardown (rollback).
    """
    for route in router.routes:
        if not isinstance(route, APIRoute) or getattr(route.endpoint, "_commits_on_return", False):
            continue
        if inspect.iscoroutinefunction(route.endpoint):
            continue  # the one async handler that writes commits itself (store.db.run_writing_unit)
        route.endpoint = _committing(route.endpoint)


def _committing(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(endpoint)
    def handler(*args: Any, **kwargs: Any) -> Any:
        result = endpoint(*args, **kwargs)
        for value in kwargs.values():
            if isinstance(value, Session) and value.info.get(REQUEST_SESSION):
                value.commit()
        return result

    handler._commits_on_return = True  # type: ignore[attr-defined]
    return handler


def current_staff(request: Request, db: Db) -> StaffUser | None:
    user = user_for_session(db, request.cookies.get(STAFF_COOKIE))
    request.state.staff_user = user
    return user


def require_role(*roles: Role) -> Callable[..., StaffUser]:
    """Owner may do everything; others only what their role names. Same answer for GET and POST."""

    def dependency(request: Request, user: Annotated[StaffUser | None, Depends(current_staff)]) -> StaffUser:
        if user is None:
            raise LoginRequired("Please log in to continue.")
        if not user.may(*roles):
            raise Forbidden("Your staff role doesn't allow this. Ask the owner if you need access.")
        return user

    return dependency


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"
