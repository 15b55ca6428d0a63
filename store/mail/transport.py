"""Deliver one message: SMTP when STORE_SMTP_URL is set, else a .eml file under var/outbox/."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from urllib.parse import unquote, urlsplit

from store.config import Settings
from store.mail.models import OutboundEmail

SMTP_TIMEOUT = 20


def build_message(email: OutboundEmail, settings: Settings) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = settings.mail_from
    msg["To"] = email.to
    msg["Subject"] = email.subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(idstring=email.key.replace(" ", "-")[:60], domain="redrevolution.example")
    for name, value in (email.headers or {}).items():
        msg[name] = str(value)
    msg.set_content(email.text)
    if email.html:
        msg.add_alternative(email.html, subtype="html")
    return msg


def deliver(email: OutboundEmail, settings: Settings) -> None:
    msg = build_message(email, settings)
    if not settings.smtp_url:
        folder = Path(settings.outbox_dir)
        folder.mkdir(parents=True, exist_ok=True)
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in email.key)[:150]
        target = folder / f"{safe}.eml"
        tmp = target.with_suffix(".tmp")
        tmp.write_bytes(bytes(msg))
        tmp.replace(target)
        return
    with smtp_session(settings.smtp_url) as smtp:
        smtp.send_message(msg)


@contextmanager
def smtp_session(smtp_url: str, timeout: float = SMTP_TIMEOUT) -> Iterator[smtplib.SMTP]:
    """Connected, with TLS as the scheme says (smtps, smtp+starttls, smtp); logged in if it names a user."""
    url = urlsplit(smtp_url)
    host, port = url.hostname or "localhost", url.port or (465 if url.scheme == "smtps" else 25)
    smtp_cls = smtplib.SMTP_SSL if url.scheme == "smtps" else smtplib.SMTP
    with smtp_cls(host, port, timeout=timeout) as smtp:
        if url.scheme == "smtp+starttls":
            smtp.starttls(context=ssl.create_default_context())
        if url.username:
            smtp.login(unquote(url.username), unquote(url.password or ""))
        yield smtp
