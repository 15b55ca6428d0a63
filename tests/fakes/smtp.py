"""An SMTP sink (aiosmtpd) on a free loopback port that keeps every message it is given.

    with run_smtp_sink() as sink:
        ...  # point STORE_SMTP_URL at sink.url
        message = sink.wait_for(1)[0]        # email.message.EmailMessage, as received
        assert message["To"] == "shopper@example.org"

It speaks real SMTP (EHLO, MAIL FROM, RCPT TO, DATA), so what arrives here is what smtplib sent.
`run_smtp_sink(login=("user", "password"))` demands that login (AUTH PLAIN/LOGIN; wrong ones get 535)
and puts it in sink.url.
"""

from __future__ import annotations

import email
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email import policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class SmtpSink:
    """aiosmtpd's handler: keeps (envelope sender, recipients, parsed message) for each DATA."""

    def __init__(self) -> None:
        self.envelopes: list[tuple[str, list[str], EmailMessage]] = []
        self._arrived = threading.Condition()
        self.url = ""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        with self._arrived:
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos), message))  # type: ignore[arg-type]
            self._arrived.notify_all()
        return "250 Message accepted for delivery"

    @property
    def messages(self) -> list[EmailMessage]:
        return [message for _, _, message in self.envelopes]

    def wait_for(self, count: int, timeout: float = 10) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.envelopes) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{len(self.envelopes)} message(s) arrived, wanted {count}")
                self._arrived.wait(remaining)
            return self.messages


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def run_smtp_sink(login: tuple[str, str] | None = None) -> Iterator[SmtpSink]:
    sink = SmtpSink()
    auth: dict[str, Any] = {}
    if login is not None:
        wanted = (login[0].encode(), login[1].encode())

        def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
            ok = isinstance(data, LoginPassword) and (data.login, data.password) == wanted
            return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself

        # Loopback only, so no TLS; real servers want STARTTLS (smtp+starttls://).
        auth = {"authenticator": authenticator, "auth_required": True, "auth_require_tls": False}
    controller = Controller(sink, hostname="127.0.0.1", port=_free_port(), **auth)
    controller.start()
    credentials = f"{login[0]}:{login[1]}@" if login else ""
    sink.url = f"smtp://{credentials}127.0.0.1:{controller.port}"
    try:
        yield sink
    finally:
        controller.stop()
