"""Passwords (argon2id via pwdlib), sessions, and login throttling (limits: memory or Redis)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from functools import lru_cache

from limits import RateLimitItemPerMinute, storage, strategies
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlmodel import Session, col, delete, select

from store.auth.models import Role, StaffSession, StaffUser
from store.config import get_settings
from store.errors import DomainError
from store.text import is_email_address
from store.timeutil import utcnow

SESSION_LIFETIME = timedelta(hours=12)
MIN_PASSWORD_LENGTH = 12
# Five failed attempts per address, or thirty per network address, in fifteen minutes.
FAILED_PER_EMAIL = RateLimitItemPerMinute(5, 15)
FAILED_PER_IP = RateLimitItemPerMinute(30, 15)

_hasher = PasswordHash((Argon2Hasher(),))
# Verified when the email is unknown, so a wrong address costs the same time as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class LoginThrottled(DomainError):
    status_code = 429


class InvalidLogin(DomainError):
    status_code = 400


def hash_password(password: str) -> str:
    return _hasher.hash(password)


@lru_cache(maxsize=4)
def _limiter(redis_url: str) -> strategies.MovingWindowRateLimiter:
    backend = storage.storage_from_string(redis_url) if redis_url else storage.MemoryStorage()
    return strategies.MovingWindowRateLimiter(backend)


def limiter() -> strategies.MovingWindowRateLimiter:
    return _limiter(get_settings().redis_url)


def _normalise_email(email: str) -> str:
    return email.strip().lower()


def create_staff(session: Session, *, email: str, password: str, role: str) -> StaffUser:
    email = _normalise_email(email)
    if role not in Role.__members__:
        raise DomainError(f"Role must be one of: {', '.join(Role.__members__)}", field="role")
    if not is_email_address(email):
        raise DomainError("Enter a valid email address", field="email")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise DomainError(f"Password must be at least {MIN_PASSWORD_LENGTH} characters", field="password")
    if session.exec(select(StaffUser).where(StaffUser.email == email)).first():
        raise DomainError("A staff account with that email already exists", field="email")
    user = StaffUser(email=email, password_hash=hash_password(password), role=role)
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, *, email: str, password: str, client_ip: str) -> StaffUser:
    """The one answer for unknown address and wrong password alike; throttled per address and per IP."""
    email = _normalise_email(email)
    rate = limiter()
    keys = (("login-email", email), ("login-ip", client_ip))
    if not rate.test(FAILED_PER_EMAIL, *keys[0]) or not rate.test(FAILED_PER_IP, *keys[1]):
        raise LoginThrottled("Too many failed attempts. Please wait 15 minutes and try again.")
    user = session.exec(select(StaffUser).where(StaffUser.email == email)).first()
    ok = _hasher.verify(password, user.password_hash if user else _DUMMY_HASH)
    if not user or not ok or not user.is_active:
        rate.hit(FAILED_PER_EMAIL, *keys[0])
        rate.hit(FAILED_PER_IP, *keys[1])
        raise InvalidLogin("That email and password don't match an account.", field="email")
    return user


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(session: Session, *, user: StaffUser) -> str:
    """A fresh id at every login (no fixation); returns the cookie value."""
    token = secrets.token_urlsafe(32)
    assert user.id is not None
    session.add(StaffSession(id=_digest(token), user_id=user.id, expires_at=utcnow() + SESSION_LIFETIME))
    # Expired rows of anyone are swept here: logins are rare, so this stays cheap.
    session.execute(delete(StaffSession).where(col(StaffSession.expires_at) < utcnow()))
    return token


def user_for_session(session: Session, token: str | None) -> StaffUser | None:
    if not token:
        return None
    row = session.get(StaffSession, _digest(token))
    if row is None or row.expires_at < utcnow():
        return None
    user = session.get(StaffUser, row.user_id)
    return user if user and user.is_active else None


def end_session(session: Session, token: str | None) -> None:
    if token:
        session.execute(delete(StaffSession).where(col(StaffSession.id) == _digest(token)))
