"""The port check before localstripe starts (`make run` right after Ctrl-C): connections the last run left
in TIME_WAIT do not count as "in use"; a port something really listens on does, in one clear line."""

from __future__ import annotations

import socket

import pytest

from store.payment.localstripe_server import (
    LocalstripeError,
    base_url_for,
    start_localstripe_process,
    stop_localstripe_process,
    wait_until_ready,
)
from tests.conftest import free_port, in_time_wait, leave_time_wait

pytestmark = pytest.mark.no_db


def test_localstripe_starts_on_a_port_left_in_time_wait() -> None:
    port = free_port()
    leave_time_wait(port)
    # given: the port is in TIME_WAIT, which a bind without SO_REUSEADDR sees as "in use"
    assert in_time_wait(port)
    # when: localstripe starts there, then: it serves
    proc = start_localstripe_process(port, quiet=True)
    try:
        wait_until_ready(base_url_for(port), 5)
    finally:
        stop_localstripe_process(proc)


def test_a_port_someone_listens_on_is_refused_in_one_line() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(LocalstripeError) as refused:
            start_localstripe_process(port, quiet=True)
    message = str(refused.value)
    assert "\n" not in message
    assert message == (
        f"port {port} on 127.0.0.1 is in use, and test payments (localstripe) need it: "
        "stop what holds it (another `make run`?) and try again"
    )
