"""queue_email: write the outbox row in the caller's transaction; a job sends it after commit."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from store.db import on_commit
from store.mail.models import OutboundEmail
from store.web import templates


def render_email(template: str, **context: Any) -> tuple[str, str]:
    """(text, html) from templates/emails/<template>.txt and .html (html optional)."""
    from store.config import get_settings

    context.setdefault("base_url", get_settings().base_url.rstrip("/"))
    text = templates.get_template(f"emails/{template}.txt").render(**context)
    try:
        html = templates.get_template(f"emails/{template}.html").render(**context)
    except Exception:  # noqa: BLE001  (no HTML version of this email)
        html = ""
    return text, html


def queue_email(
    session: Session,
    *,
    key: str,
    to: str,
    subject: str,
    text: str,
    html: str = "",
    headers: dict[str, str] | None = None,
) -> bool:
    """Queue one email under a unique key. False (and nothing queued) if that key was used before."""
    if session.exec(select(OutboundEmail.id).where(OutboundEmail.key == key)).first() is not None:
        return False
    email = OutboundEmail(key=key, to=to, subject=subject, text=text, html=html, headers=headers or {})
    try:
        with session.begin_nested():
            session.add(email)
    except IntegrityError:  # another transaction queued the same key a moment ago
        return False
    from store.mail.tasks import send_email

    on_commit(session, lambda: send_email(key))
    return True
