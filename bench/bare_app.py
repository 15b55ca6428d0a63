"""The yardstick: bare uvicorn answering every request with the same 10 KB HTML page."""

from __future__ import annotations

from typing import Any

BODY = (
    b"<!doctype html><html><head><title>bare</title></head><body>"
    + b"<p>"
    + b"x" * 10_150
    + b"</p></body></html>"
)
HEADERS = [(b"content-type", b"text/html; charset=utf-8"), (b"content-length", str(len(BODY)).encode())]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
