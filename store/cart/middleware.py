"""The header's mini-cart count for every page, without touching the database.

The signed cart cookie carries the count as of the cart's last change (the cart routes re-sign it
whenever it changes), so this is one HMAC check per request. A tampered cookie counts as 0.
"""

from __future__ import annotations

from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Receive, Scope, Send

from store.cart.service import CART_COOKIE, decode_cookie


def cart_count(cookie: str | None) -> int:
    """The item count the signed cart cookie carries (0 without one, or for a tampered one)."""
    decoded = decode_cookie(cookie) if cookie else None
    return decoded[1] if decoded else 0


class CartCountMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            count = 0
            for name, value in scope.get("headers", []):
                if name == b"cookie" and CART_COOKIE.encode() in value:
                    count = cart_count(cookie_parser(value.decode("latin-1")).get(CART_COOKIE))
                    break
            scope.setdefault("state", {})["cart_count"] = count
        await self.app(scope, receive, send)
