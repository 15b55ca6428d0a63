"""A pass-through HTTP proxy in front of a fake (localstripe) that runs a check while each call is answered.

    with probing_proxy("http://127.0.0.1:8420", while_answering=check) as url:
        ...  # point STORE_STRIPE_API_BASE at url; check(method_and_path) runs before each forward

Loopback only, in a background thread; requests and answers pass unchanged (headers and bodies).
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "accept-encoding"}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    target: str
    while_answering: Callable[[str], None]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._forward("GET")

    def do_POST(self) -> None:
        self._forward("POST")

    def do_DELETE(self) -> None:
        self._forward("DELETE")

    def _forward(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        self.server.while_answering(f"{method} {self.path.split('?', 1)[0]}")
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        request = urllib.request.Request(
            self.server.target + self.path, data=body, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, answer, answer_headers = response.status, response.read(), response.headers
        except urllib.error.HTTPError as exc:
            status, answer, answer_headers = exc.code, exc.read(), exc.headers
        self.send_response(status)
        for key, value in answer_headers.items():
            if key.lower() not in HOP_BY_HOP:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)


@contextmanager
def probing_proxy(target: str, *, while_answering: Callable[[str], None]) -> Iterator[str]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.target = target.rstrip("/")
    server.while_answering = while_answering
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
