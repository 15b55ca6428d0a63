"""A fake Printful (API v1) that speaks HTTP on 127.0.0.1, for tests and for real worker processes.

In a test (server in a background thread):

    with run_fake_printful(token="test-token") as fake:
        fake.fail_next("POST /orders", 3)
        ...  # point STORE_PRINTFUL_API_BASE at fake.base_url
        assert len(fake.orders) == 1

As a separate process (prints one line `FAKE_PRINTFUL_URL=http://127.0.0.1:PORT`, then serves):

    python -m tests.fakes.printful --port 0 --token test-token

and drive it with `FakePrintfulRemote(url)` (same methods as FakePrintful), or `spawn_fake_printful()`
which does both. Control endpoints, no auth: GET /_fake/state, POST /_fake/reset, POST /_fake/faults,
POST /_fake/status, POST /_fake/ship, POST /_fake/webhook, POST /_fake/sync_variant (JSON bodies: see
`_State.control`). Also Printful's webhook configuration (GET/POST /webhooks: `url`, `types`) and sync
variants by external id (GET /store/variants/@{external_id}).

Route names used for faults and counts: see ROUTES, e.g. "POST /orders", "GET /orders/@{external_id}".
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import hmac
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal, cast
from urllib.parse import parse_qs, urlsplit

import httpx

STATUSES = ("draft", "pending", "failed", "canceled", "inprocess", "onhold", "partial", "fulfilled")
CANCELLABLE = {"draft", "pending", "failed", "onhold", "canceled"}
EXTERNAL_ID_RE = re.compile(r"[0-9A-Za-z_-]{1,32}")
DUPLICATE_MESSAGE = "Order with this external ID already exists"

# (method, path pattern, route name); the name is what faults and counts are keyed by.
_ROUTE_TABLE: list[tuple[str, re.Pattern[str], str]] = [
    ("POST", re.compile(r"/orders"), "POST /orders"),
    ("GET", re.compile(r"/orders/@(?P<ref>[^/]+)"), "GET /orders/@{external_id}"),
    ("GET", re.compile(r"/orders/(?P<ref>\d+)"), "GET /orders/{id}"),
    ("DELETE", re.compile(r"/orders/@(?P<ref>[^/]+)"), "DELETE /orders/@{external_id}"),
    ("DELETE", re.compile(r"/orders/(?P<ref>\d+)"), "DELETE /orders/{id}"),
    ("POST", re.compile(r"/orders/@(?P<ref>[^/]+)/confirm"), "POST /orders/@{external_id}/confirm"),
    ("POST", re.compile(r"/orders/(?P<ref>\d+)/confirm"), "POST /orders/{id}/confirm"),
    ("POST", re.compile(r"/shipping/rates"), "POST /shipping/rates"),
    ("GET", re.compile(r"/webhooks"), "GET /webhooks"),
    ("POST", re.compile(r"/webhooks"), "POST /webhooks"),
    ("GET", re.compile(r"/store/variants/@(?P<ref>[^/]+)"), "GET /store/variants/@{external_id}"),
]
ROUTES = tuple(name for _, _, name in _ROUTE_TABLE)

# Deterministic rates by destination: (id, name, rate, min days, max days).
_RATES_GB = [
    ("STANDARD", "Flat Rate (3-5 business days after fulfillment)", "4.29", 3, 5),
    ("EXPRESS", "Express (1-2 business days after fulfillment)", "9.99", 1, 2),
]
_RATES_ABROAD = [
    ("STANDARD", "Flat Rate (5-10 business days after fulfillment)", "7.49", 5, 10),
    ("EXPRESS", "Express (2-4 business days after fulfillment)", "17.99", 2, 4),
]


def sign_webhook(body: bytes, secret: str) -> str:
    """HMAC-SHA256 hex of the raw body; written apart from the store's code so a shared bug cannot hide."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def build_webhook(
    event_type: str,
    order: dict[str, Any] | None,
    *,
    secret: str,
    shipment: dict[str, Any] | None = None,
    reason: str | None = None,
    created: int | None = None,
    retries: int = 0,
    store: int = 1,
) -> tuple[bytes, dict[str, str]]:
    """A signed Printful webhook: (raw body, headers) ready to POST."""
    data: dict[str, Any] = {}
    if order is not None:
        data["order"] = order
    if shipment is not None:
        data["shipment"] = shipment
    if reason is not None:
        data["reason"] = reason
    envelope = {
        "type": event_type,
        "created": created if created is not None else int(time.time()),
        "retries": retries,
        "store": store,
        "data": data,
    }
    body = json.dumps(envelope, separators=(",", ":")).encode()
    return body, {"content-type": "application/json", "x-pf-webhook-signature": sign_webhook(body, secret)}


class _Reject(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _error_body(status: int, message: str) -> dict[str, Any]:
    reasons = {400: "BadRequest", 401: "Unauthorized", 404: "NotFound", 429: "TooManyRequests"}
    return {
        "code": status,
        "result": message,
        "error": {"reason": reasons.get(status, "InternalError"), "message": message},
    }


class _State:
    """Everything the fake knows, behind one lock; every control action goes through `control`."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.lock = threading.Lock()
        self.next_id = 1001  # not reset, so ids stay unique for the life of the process
        self.reset()

    def reset(self) -> None:
        self.orders: dict[int, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self.route_counts: Counter[str] = Counter()
        self.faults: defaultdict[str, deque[dict[str, Any]]] = defaultdict(deque)
        # Printful keeps one webhook configuration per store (API v1 GET/POST /webhooks).
        self.webhook_config: dict[str, Any] = {"url": None, "types": [], "params": []}
        self.sync_variants: set[str] = set()  # external ids of the store's sync variants
        self.delays: defaultdict[str, deque[float]] = defaultdict(deque)

    # -- lookups ------------------------------------------------------------------------------------

    def _by_ref(self, ref: str, by_external: bool) -> dict[str, Any]:
        for order in self.orders.values():
            if (by_external and order["external_id"] == ref) or (not by_external and str(order["id"]) == ref):
                return order
        raise _Reject(404, "Not found")

    def _by_external(self, external_id: str) -> dict[str, Any]:
        try:
            return self._by_ref(external_id, by_external=True)
        except _Reject:
            raise KeyError(f"no fake Printful order with external_id {external_id!r}") from None

    # -- the API ------------------------------------------------------------------------------------

    def api(self, route: str, ref: str | None, query: dict[str, list[str]], data: Any) -> tuple[int, Any]:
        if route == "POST /orders":
            return 200, self._create(data, confirm=query.get("confirm", [""])[0] in ("1", "true"))
        if route == "POST /shipping/rates":
            return 200, self._rates(data)
        if route == "GET /webhooks":
            return 200, self.webhook_config
        if route == "POST /webhooks":
            if not isinstance(data, dict) or not isinstance(data.get("url"), str) or not data["url"]:
                raise _Reject(400, "Webhook URL is missing")
            types = data.get("types")
            if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
                raise _Reject(400, "Types must be a list of event names")
            self.webhook_config = {
                "url": data["url"],
                "types": list(types),
                "params": data.get("params") or [],
            }
            return 200, self.webhook_config
        if route == "GET /store/variants/@{external_id}":
            if ref not in self.sync_variants:
                raise _Reject(404, "Not found")
            return 200, {"id": 9000 + len(ref or ""), "external_id": ref, "synced": True}
        assert ref is not None
        order = self._by_ref(ref, by_external="@" in route)
        if route.startswith("GET "):
            return 200, order
        if route.startswith("DELETE "):
            if order["status"] not in CANCELLABLE:
                raise _Reject(400, f"Order with status {order['status']} cannot be canceled")
            self._move(order, "canceled")
            return 200, order
        if route.endswith("/confirm"):
            # A draft, or an order put on hold until we approve it (order_put_hold_approval).
            if order["status"] not in ("draft", "onhold"):
                raise _Reject(400, "Only draft orders or orders awaiting approval can be confirmed")
            self._move(order, "pending")
            return 200, order
        raise _Reject(404, "Not found")  # pragma: no cover - every route is handled above

    def _create(self, data: Any, *, confirm: bool) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise _Reject(400, "Invalid request body")
        external_id = data.get("external_id")
        if external_id is not None:
            if not isinstance(external_id, str) or not EXTERNAL_ID_RE.fullmatch(external_id):
                raise _Reject(400, "External ID is invalid")
            if any(o["external_id"] == external_id for o in self.orders.values()):
                raise _Reject(400, DUPLICATE_MESSAGE)
        recipient = data.get("recipient")
        if not isinstance(recipient, dict):
            raise _Reject(400, "Recipient is missing")
        for key in ("name", "address1", "city", "country_code"):
            if not recipient.get(key):
                raise _Reject(400, f"Recipient: {key} is required")
        items = data.get("items")
        if not isinstance(items, list) or not items:
            raise _Reject(400, "Order must contain at least one item")
        stored_items = []
        for n, item in enumerate(items, start=1):
            if not isinstance(item, dict):
                raise _Reject(400, f"Item {n}: invalid item")
            refs = ("variant_id", "sync_variant_id", "external_variant_id", "warehouse_variant_id")
            if not any(item.get(k) for k in refs):
                raise _Reject(400, f"Item {n}: variant is not specified")
            quantity = item.get("quantity")
            if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
                raise _Reject(400, f"Item {n}: quantity must be a positive integer")
            files = item.get("files") or []
            if item.get("variant_id") and not files:
                raise _Reject(400, f"Item {n}: print files are missing")
            if "retail_price" in item:
                try:
                    Decimal(str(item["retail_price"]))
                except InvalidOperation:
                    raise _Reject(400, f"Item {n}: retail_price is invalid") from None
            stored_items.append(
                {
                    "id": self.next_id * 100 + n,
                    "external_id": item.get("external_id"),
                    "variant_id": item.get("variant_id"),
                    "sync_variant_id": item.get("sync_variant_id"),
                    "external_variant_id": item.get("external_variant_id"),
                    "quantity": quantity,
                    "retail_price": item.get("retail_price"),
                    "name": item.get("name"),
                    "sku": item.get("sku"),
                    "files": [{"id": n * 10 + i, "type": "default", **f} for i, f in enumerate(files)],
                }
            )
        now = int(time.time())
        order = {
            "id": self.next_id,
            "external_id": external_id,
            "store": 1,
            "status": "pending" if confirm else "draft",
            "shipping": data.get("shipping") or "STANDARD",
            "created": now,
            "updated": now,
            "recipient": recipient,
            "items": stored_items,
            "retail_costs": data.get("retail_costs"),
            "shipments": [],
        }
        self.orders[self.next_id] = order
        self.next_id += 1
        return order

    def _rates(self, data: Any) -> list[dict[str, Any]]:
        if not isinstance(data, dict):
            raise _Reject(400, "Invalid request body")
        recipient = data.get("recipient")
        if not isinstance(recipient, dict) or not recipient.get("country_code"):
            raise _Reject(400, "Recipient: country_code is required")
        if not isinstance(data.get("items"), list) or not data["items"]:
            raise _Reject(400, "Items are missing")
        table = _RATES_GB if recipient["country_code"] == "GB" else _RATES_ABROAD
        currency = data.get("currency") or "GBP"
        return [
            {
                "id": rid,
                "name": name,
                "rate": rate,
                "currency": currency,
                "minDeliveryDays": lo,
                "maxDeliveryDays": hi,
            }
            for rid, name, rate, lo, hi in table
        ]

    @staticmethod
    def _move(order: dict[str, Any], status: str) -> None:
        order["status"] = status
        order["updated"] = int(time.time())

    # -- control (in-process and over HTTP) ----------------------------------------------------------

    def control(self, action: str, p: dict[str, Any]) -> Any:
        """One entry point for test controls; arguments and results are plain JSON values."""
        if action == "state":
            return {
                "orders": {(o["external_id"] or f"id:{o['id']}"): o for o in self.orders.values()},
                "calls": [list(c) for c in self.calls],
                "counts": dict(self.route_counts),
                "faults": {route: list(q) for route, q in self.faults.items() if q},
                "webhook_config": self.webhook_config,
                "sync_variants": sorted(self.sync_variants),
            }
        if action == "reset":
            self.reset()
            return {"ok": True}
        if action == "sync_variant":
            self.sync_variants.add(str(p["external_id"]))
            return {"ok": True}
        if action == "faults":
            route = p["route"]
            if route not in ROUTES:
                raise ValueError(f"unknown route {route!r}; one of {ROUTES}")
            fault = {k: p[k] for k in ("kind", "status", "retry_after", "mode", "message") if k in p}
            if fault["kind"] == "delay":  # answer normally, but only after this many seconds
                for _ in range(int(p.get("count", 1))):
                    self.delays[route].append(float(p["seconds"]))
                return {"ok": True}
            if fault["kind"] not in ("status", "rate_limit", "drop", "reject"):
                raise ValueError(f"unknown fault kind {fault['kind']!r}")
            for _ in range(int(p.get("count", 1))):
                self.faults[route].append(dict(fault))
            return {"ok": True}
        if action == "status":
            if p["status"] not in STATUSES:
                raise ValueError(f"unknown status {p['status']!r}")
            order = self._by_external(p["external_id"])
            self._move(order, p["status"])
            return order
        if action == "ship":
            order = self._by_external(p["external_id"])
            shipment = {
                "id": order["id"] * 10 + len(order["shipments"]) + 1,
                "carrier": p.get("carrier") or "ROYAL_MAIL",
                "service": p.get("service") or "Royal Mail Tracked 48",
                "tracking_number": p.get("tracking_number") or f"RM{order['id']:09d}GB",
                "tracking_url": p.get("tracking_url")
                or f"https://www.royalmail.com/track-your-item#/tracking-results/RM{order['id']:09d}GB",
                "created": int(time.time()),
                "ship_date": time.strftime("%Y-%m-%d"),
                "reshipment": False,
                "items": [{"item_id": i["id"], "quantity": i["quantity"]} for i in order["items"]],
            }
            order["shipments"].append(shipment)
            self._move(order, p.get("status") or "fulfilled")
            return shipment
        if action == "webhook":
            about = self._by_external(p["external_id"]) if p.get("external_id") else None
            shipped: dict[str, Any] | None = p.get("shipment")
            if shipped is None and p["type"] in ("package_shipped", "package_returned") and about:
                shipped = about["shipments"][-1] if about["shipments"] else None
            body, headers = build_webhook(
                p["type"], about, secret=p["secret"], shipment=shipped, reason=p.get("reason")
            )
            return {"body": body.decode(), "headers": headers}
        raise ValueError(f"unknown control action {action!r}")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: _State
    # Called with the route name while an API request is being answered, before the answer is made
    # (in-process fakes only): a test can check what the caller holds meanwhile, e.g. database locks.
    while_answering: Callable[[str], None] | None = None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _handle(self, method: str) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            self._send_json(400, _error_body(400, "Invalid JSON"))
            return
        if url.path.startswith("/_fake/"):
            self._control(url.path.removeprefix("/_fake/"), data if isinstance(data, dict) else {})
            return
        state = self.server.state
        route, ref = None, None
        for m, pattern, name in _ROUTE_TABLE:
            match = pattern.fullmatch(url.path)
            if m == method and match:
                route, ref = name, match.groupdict().get("ref")
                break
        if route is not None:
            if self.server.while_answering is not None:
                self.server.while_answering(route)
            with state.lock:
                delay = state.delays[route].popleft() if state.delays[route] else 0.0
            if delay:
                time.sleep(delay)  # outside the lock: other calls are answered meanwhile
        headers: dict[str, str] = {}
        with state.lock:
            state.calls.append((method, url.path))
            if route:
                state.route_counts[route] += 1
            if route is None:
                status, payload = 404, _error_body(404, "Not found")
            elif self.headers.get("Authorization") != f"Bearer {state.token}":
                status, payload = 401, _error_body(401, "Malformed or missing access token")
            else:
                status, payload, headers = self._api(state, route, ref, parse_qs(url.query), data)
        if status == 0:  # "accept then drop": the work is done, the answer never arrives
            self.close_connection = True
            return
        self._send_json(status, payload, headers)

    @staticmethod
    def _api(
        state: _State, route: str, ref: str | None, query: dict[str, list[str]], data: Any
    ) -> tuple[int, Any, dict[str, str]]:
        fault = state.faults[route].popleft() if state.faults[route] else None
        if fault and fault["kind"] == "status":
            status = int(fault.get("status", 500))
            return status, _error_body(status, "Injected failure"), {}
        if fault and fault["kind"] == "rate_limit":
            retry_after = str(fault.get("retry_after", 1))
            return 429, _error_body(429, "Too Many Requests"), {"Retry-After": retry_after}
        if fault and fault["kind"] == "reject":
            status = int(fault.get("status", 400))
            return status, _error_body(status, fault.get("message") or "Rejected"), {}
        try:
            status, result = state.api(route, ref, query, data)
        except _Reject as exc:
            return exc.status, _error_body(exc.status, exc.message), {}
        if fault and fault["kind"] == "drop":
            if fault.get("mode", "close") == "close":
                return 0, None, {}
            return 500, {"code": 500, "error": {"reason": "InternalError", "message": "lost"}}, {}
        return status, {"code": status, "result": copy.deepcopy(result)}, {}

    def _control(self, action: str, payload: dict[str, Any]) -> None:
        state = self.server.state
        url = payload.pop("url", None) if action == "webhook" else None
        try:
            with state.lock:
                result = copy.deepcopy(state.control(action, payload))
        except (KeyError, ValueError) as exc:
            self._send_json(400, {"detail": str(exc)})
            return
        if url:  # post outside the lock: the receiver may call back into this fake
            resp = httpx.post(url, content=result["body"].encode(), headers=result["headers"], timeout=10)
            result["response_status"] = resp.status_code
        self._send_json(200, result)


def _make_server(host: str, port: int, token: str) -> _Server:
    server = _Server((host, port), _Handler)
    server.state = _State(token)
    return server


class _Controls:
    """The test-facing methods, shared by the in-thread fake and the remote-process client."""

    base_url: str

    def _control(self, action: str, payload: dict[str, Any]) -> Any:
        raise NotImplementedError

    @property
    def state(self) -> dict[str, Any]:
        return cast(dict[str, Any], self._control("state", {}))

    @property
    def orders(self) -> dict[str, dict[str, Any]]:
        """Snapshot of orders keyed by external_id."""
        return cast(dict[str, dict[str, Any]], self.state["orders"])

    @property
    def calls(self) -> list[tuple[str, str]]:
        """Every API call as (method, path without query), oldest first; control calls excluded."""
        return [(m, p) for m, p in self.state["calls"]]

    def count(self, route: str) -> int:
        """Calls to a route name from ROUTES, e.g. count("POST /orders")."""
        return int(self.state["counts"].get(route, 0))

    def fail_next(self, route: str, count: int = 1, status: int = 500) -> None:
        self._control("faults", {"route": route, "kind": "status", "count": count, "status": status})

    def rate_limit_next(self, route: str, count: int = 1, retry_after: int = 1) -> None:
        self._control(
            "faults", {"route": route, "kind": "rate_limit", "count": count, "retry_after": retry_after}
        )

    def drop_response_next(self, route: str, mode: Literal["close", "500"] = "close") -> None:
        """Do the work, then lose the answer: close the connection, or answer 500 without a result."""
        self._control("faults", {"route": route, "kind": "drop", "mode": mode})

    def delay_next(self, route: str, seconds: float, count: int = 1) -> None:
        """Answer the next call(s) to route normally, but only after `seconds` (a slow provider)."""
        self._control("faults", {"route": route, "kind": "delay", "seconds": seconds, "count": count})

    def reject_next(self, route: str, message: str, status: int = 400) -> None:
        self._control("faults", {"route": route, "kind": "reject", "message": message, "status": status})

    def set_status(self, external_id: str, status: str) -> dict[str, Any]:
        return cast(dict[str, Any], self._control("status", {"external_id": external_id, "status": status}))

    def ship(self, external_id: str, **shipment: str) -> dict[str, Any]:
        """Add a shipment (carrier, service, tracking_number, tracking_url) and mark the order fulfilled."""
        return cast(dict[str, Any], self._control("ship", {"external_id": external_id, **shipment}))

    def webhook(
        self,
        event_type: str,
        external_id: str | None,
        *,
        secret: str,
        reason: str | None = None,
        shipment: dict[str, Any] | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        """A signed webhook about a stored order (package events carry its last shipment)."""
        out = self._control(
            "webhook",
            {
                "type": event_type,
                "external_id": external_id,
                "secret": secret,
                "reason": reason,
                "shipment": shipment,
            },
        )
        return out["body"].encode(), out["headers"]

    def send_webhook(
        self,
        url: str,
        event_type: str,
        external_id: str | None,
        *,
        secret: str,
        reason: str | None = None,
        shipment: dict[str, Any] | None = None,
    ) -> int:
        """Build, sign and POST a webhook to url; returns the receiver's HTTP status."""
        body, headers = self.webhook(event_type, external_id, secret=secret, reason=reason, shipment=shipment)
        return httpx.post(url, content=body, headers=headers, timeout=10).status_code

    def reset(self) -> None:
        self._control("reset", {})

    @property
    def webhook_config(self) -> dict[str, Any]:
        """What GET /webhooks answers: {"url", "types", "params"}."""
        return cast(dict[str, Any], self.state["webhook_config"])

    def add_sync_variant(self, external_id: str) -> None:
        """A sync variant (product synced in Printful's dashboard, print files there) under our SKU."""
        self._control("sync_variant", {"external_id": external_id})


class FakePrintful(_Controls):
    """The fake running in this process (see run_fake_printful)."""

    def __init__(self, server: _Server) -> None:
        self._server = server
        host, port = server.server_address[:2]
        self.base_url = f"http://{host!s}:{port}"
        self.token = server.state.token

    def while_answering(self, check: Callable[[str], None] | None) -> None:
        """Run check(route) during every API call from now on (None: stop)."""
        self._server.while_answering = check

    def _control(self, action: str, payload: dict[str, Any]) -> Any:
        state = self._server.state
        with state.lock:
            # JSON round trip: the same values a remote caller would get, and no shared mutable state.
            return json.loads(json.dumps(state.control(action, payload)))


class FakePrintfulRemote(_Controls):
    """Controls for a fake running in another process, over its /_fake endpoints."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    def _control(self, action: str, payload: dict[str, Any]) -> Any:
        resp = httpx.post(f"{self.base_url}/_fake/{action}", json=payload, timeout=10)
        if resp.status_code == 400:
            raise ValueError(resp.json()["detail"])
        resp.raise_for_status()
        return resp.json()


@contextmanager
def run_fake_printful(token: str = "test-token") -> Iterator[FakePrintful]:
    """Serve the fake on 127.0.0.1 at a free port in a background thread."""
    server = _make_server("127.0.0.1", 0, token)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield FakePrintful(server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def spawn_fake_printful(
    token: str = "test-token", port: int = 0, nice: int = 0
) -> Iterator[FakePrintfulRemote]:
    """Run the fake as its own process (python -m tests.fakes.printful) and yield a remote control;
    `nice` lowers its CPU priority (bench/rush.py --stand-ins-nice)."""
    repo_root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.printful", "--port", str(port), "--token", token],
        cwd=repo_root,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=(lambda: os.nice(nice)) if nice else None,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.startswith("FAKE_PRINTFUL_URL="):
            raise RuntimeError(f"fake Printful did not start (said {line!r})")
        yield FakePrintfulRemote(line.removeprefix("FAKE_PRINTFUL_URL="))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake Printful API v1 for tests")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--token", default="test-token")
    args = parser.parse_args(argv)
    server = _make_server(args.host, args.port, args.token)
    print(f"FAKE_PRINTFUL_URL=http://{args.host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
