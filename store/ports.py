"""Can a server listen on this address now? Asked before starting one, so the answer is one clear line."""

from __future__ import annotations

import errno
import socket


def listen_problem(host: str, port: int) -> str | None:
    """None when a server could listen on host:port now; otherwise why not, in a few words.

    The probe binds with SO_REUSEADDR, as uvicorn and our localstripe do: connections of a server that
    has just stopped linger in TIME_WAIT for a minute, and they do not stop a new listener, so they
    must not count as "in use". A socket that is really listening there still does.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        return f"unknown host ({exc.strerror})"
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return "in use"
            return exc.strerror or str(exc)
    return None
