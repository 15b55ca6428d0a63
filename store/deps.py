"""Request dependencies: the unit of work, the signed-in staff member, role checks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from store.auth.models import Role, StaffUser
from store.auth.service import user_for_session
from store.db import get_engine, unit_of_work
from store.errors import Forbidden, LoginRequired

STAFF_COOKIE = "rrm_staff"


def get_db() -> Iterator[Session]:
    # Deferred: a handler may read here and run its own short transactions (refunds, payments)
    # beside it; holding SQLite's write lock for the whole request would deadlock those.
    with unit_of_work(get_engine(), write=False) as session:
        yield session


def get_write_db() -> Iterator[Session]:
    with unit_of_work(get_engine(), write=True) as session:
        yield session


# scope="function": commit before the response is sent, so a failed commit is a 500, never a false 200.
Db = Annotated[Session, Depends(get_db, scope="function")]
# For handlers that read and then write on the request's session (cart, checkout): on SQLite the
# write lock is taken at BEGIN, so a concurrent commit cannot make the upgrade fail ("database is
# locked"). Such handlers must not open other write transactions of their own.
WriteDb = Annotated[Session, Depends(get_write_db, scope="function")]


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
