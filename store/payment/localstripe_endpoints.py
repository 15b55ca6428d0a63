"""Stripe's webhook endpoint API (`/v1/webhook_endpoints`), which localstripe lacks, added to our launcher.

Just enough of Stripe's documented shape for `storefront webhooks register` and `storefront check` to run
against localstripe in demo mode and tests: list (newest first), create (the answer carries the signing
`secret`, the only time Stripe shows it), retrieve, update (`url`, `enabled_events`, `disabled`,
`description`) and delete. An enabled endpoint is also registered with localstripe's own event delivery,
so events really reach it, signed with its secret, as Stripe would send them.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from aiohttp import web

_endpoints: dict[str, dict[str, Any]] = {}


def _error(status: int, message: str, param: str | None = None) -> web.Response:
    error: dict[str, Any] = {"type": "invalid_request_error", "message": message}
    if param:
        error["param"] = param
    return web.json_response({"error": error}, status=status)


def _events(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, dict):  # enabled_events[0]=a&enabled_events[1]=b unflattens to a dict
        value = [value[k] for k in sorted(value, key=lambda k: int(k) if str(k).isdigit() else 0)]
    if isinstance(value, str):
        value = [value]
    return [str(v) for v in value] if isinstance(value, list) else None


def _deliver_to(endpoint: dict[str, Any]) -> None:
    from localstripe import webhooks

    if endpoint["status"] == "enabled":
        events = None if "*" in endpoint["enabled_events"] else list(endpoint["enabled_events"])
        webhooks.register_webhook(endpoint["id"], endpoint["url"], endpoint["_secret"], events)
    else:
        webhooks._webhooks.pop(endpoint["id"], None)


def _public(endpoint: dict[str, Any], *, with_secret: bool = False) -> dict[str, Any]:
    shown = {k: v for k, v in endpoint.items() if not k.startswith("_")}
    if with_secret:
        shown["secret"] = endpoint["_secret"]
    return shown


async def _form(request: web.Request) -> dict[str, Any]:
    from localstripe.server import get_post_data

    return dict(await get_post_data(request) or {})


async def create(request: web.Request) -> web.Response:
    data = await _form(request)
    url, events = data.get("url"), _events(data.get("enabled_events"))
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return _error(400, "Invalid URL: must be an http(s) URL", "url")
    if not events:
        return _error(400, "Missing required param: enabled_events.", "enabled_events")
    endpoint: dict[str, Any] = {
        "id": "we_" + secrets.token_hex(12),
        "object": "webhook_endpoint",
        "url": url,
        "enabled_events": events,
        "status": "enabled",
        "description": data.get("description"),
        "livemode": False,
        "created": int(time.time()),
        "metadata": {},
        "api_version": None,
        "_secret": "whsec_" + secrets.token_urlsafe(24),
    }
    _endpoints[str(endpoint["id"])] = endpoint
    _deliver_to(endpoint)
    return web.json_response(_public(endpoint, with_secret=True))


def _found(request: web.Request) -> dict[str, Any] | None:
    return _endpoints.get(request.match_info["id"])


async def retrieve(request: web.Request) -> web.Response:
    endpoint = _found(request)
    if endpoint is None:
        return _error(404, f"No such webhook endpoint: '{request.match_info['id']}'", "id")
    return web.json_response(_public(endpoint))


async def update(request: web.Request) -> web.Response:
    endpoint = _found(request)
    if endpoint is None:
        return _error(404, f"No such webhook endpoint: '{request.match_info['id']}'", "id")
    data = await _form(request)
    if "url" in data:
        endpoint["url"] = str(data["url"])
    if "enabled_events" in data:
        events = _events(data["enabled_events"])
        if not events:
            return _error(400, "Invalid enabled_events", "enabled_events")
        endpoint["enabled_events"] = events
    if "disabled" in data:
        endpoint["status"] = "disabled" if str(data["disabled"]).lower() == "true" else "enabled"
    if "description" in data:
        endpoint["description"] = data["description"]
    _deliver_to(endpoint)
    return web.json_response(_public(endpoint))


async def delete(request: web.Request) -> web.Response:
    endpoint = _endpoints.pop(request.match_info["id"], None)
    if endpoint is None:
        return _error(404, f"No such webhook endpoint: '{request.match_info['id']}'", "id")
    endpoint["status"] = "disabled"
    _deliver_to(endpoint)
    return web.json_response({"id": endpoint["id"], "object": "webhook_endpoint", "deleted": True})


async def list_all(request: web.Request) -> web.Response:
    newest_first = sorted(_endpoints.values(), key=lambda e: (e["created"], e["id"]), reverse=True)
    limit = int(request.query.get("limit", "10"))
    after = request.query.get("starting_after")
    if after:
        ids = [e["id"] for e in newest_first]
        newest_first = newest_first[ids.index(after) + 1 :] if after in ids else []
    page = newest_first[:limit]
    return web.json_response(
        {
            "object": "list",
            "url": "/v1/webhook_endpoints",
            "has_more": len(newest_first) > limit,
            "data": [_public(e) for e in page],
        }
    )


def forget_all() -> None:
    """`DELETE /_config/data` empties localstripe; the endpoints go with it."""
    for endpoint in list(_endpoints.values()):
        endpoint["status"] = "disabled"
        _deliver_to(endpoint)
    _endpoints.clear()


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v1/webhook_endpoints", list_all)
    app.router.add_post("/v1/webhook_endpoints", create)
    app.router.add_get("/v1/webhook_endpoints/{id}", retrieve)
    app.router.add_post("/v1/webhook_endpoints/{id}", update)
    app.router.add_delete("/v1/webhook_endpoints/{id}", delete)
