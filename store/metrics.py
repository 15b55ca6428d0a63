"""GET /metrics: Prometheus text, for the addresses in STORE_METRICS_ALLOW only.

Two kinds of numbers:
- per request (counts and latency by route template, webhook deliveries by outcome): counted in the
  process that served the request. Under `serve --workers N` each process writes its own files in
  PROMETHEUS_MULTIPROC_DIR (set by `serve`) and a scrape sums them, whichever process answers it.
- the shop's state (job queue depth and oldest job, fulfilment outbox, orders by status, payments by
  status, webhook backlog): read from the database and the queue at scrape time, so every process
  gives the same answer and nothing is kept in memory.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import time
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import case, func
from sqlmodel import col, select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from store.config import get_settings

log = logging.getLogger("store.metrics")
router = APIRouter()

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Files are written only if the folder was named before prometheus_client was first imported.
MULTIPROCESS = bool(os.environ.get(MULTIPROC_ENV)) and values.ValueClass is not values.MutexValue
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"  # 404s and scanners: one label, so odd paths cannot grow the series

# registry=None: not in the global registry; a scrape builds its own (see _registry).
REQUESTS = Counter(
    "storefront_http_requests",
    "HTTP requests by method, route template and status code",
    ["method", "route", "status"],
    registry=None,
)
LATENCY = Histogram(
    "storefront_http_request_duration_seconds",
    "Time to answer, by method and route template",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=None,
)
WEBHOOKS = Counter(
    "storefront_webhook_deliveries",
    "Webhook deliveries received, by source and outcome (accepted, duplicate, rejected)",
    ["source", "outcome"],
    registry=None,
)
_PER_REQUEST = (REQUESTS, LATENCY, WEBHOOKS)


def count_webhook(source: str, outcome: str) -> None:
    """One webhook delivery: accepted (stored for processing), duplicate, or rejected (bad signature)."""
    WEBHOOKS.labels(source, outcome).inc()


class RequestMetricsMiddleware:
    """Counts and times every request under its route template (`/shop/{slug}`, never the raw path)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            method = scope["method"] if scope["method"] in _METHODS else "other"
            series = _SERIES.get((method, route, status))
            if series is None:
                series = _SERIES[method, route, status] = (
                    REQUESTS.labels(method, route, str(status)),
                    LATENCY.labels(method, route),
                )
            series[0].inc()
            series[1].observe(time.perf_counter() - started)


# The labelled children, found once: labels() validates and locks on every call, which cost more than
# a cached page's whole answer. Bounded: route templates, methods and statuses are few.
_SERIES: dict[tuple[str, str, int], tuple[Any, Any]] = {}


# --- who may look ----------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _networks(allow: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(
        ipaddress.ip_network(part.strip(), strict=False) for part in allow.split(",") if part.strip()
    )


def allowed(address: str, allow: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in _networks(allow))


# --- the shop's state, read at scrape time -----------------------------------------------------------


def _gauge(name: str, doc: str, value: float | None) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=0.0 if value is None else value)


def _age(now: float, oldest: float | None) -> float:
    return max(0.0, now - oldest) if oldest is not None else 0.0


class ShopStateCollector(Collector):
    """Gauges read from the database and the job queue each time /metrics is asked."""

    def collect(self) -> Iterable[Metric]:
        try:
            yield from self._queue()
            yield from self._database()
        except Exception:  # a scrape must answer even when the database does not
            log.exception("metrics: reading the shop's state failed")
            yield _gauge("storefront_state_up", "1 when the database and queue could be read", 0)
        else:
            yield _gauge("storefront_state_up", "1 when the database and queue could be read", 1)

    def _queue(self) -> Iterator[Metric]:
        from store.jobs import huey, oldest_enqueued_at

        yield _gauge("storefront_job_queue_depth", "Jobs waiting for a worker", huey.pending_count())
        yield _gauge(
            "storefront_job_oldest_age_seconds",
            "Seconds the oldest waiting job has waited (0 when none wait)",
            _age(time.time(), oldest_enqueued_at()),
        )

    def _database(self) -> Iterator[Metric]:
        from store.db import get_engine, unit_of_work
        from store.fulfilment.models import Fulfilment, FulfilmentStatus
        from store.order.models import Order, Payment
        from store.webhook.models import InboundEvent

        now = time.time()
        with unit_of_work(get_engine(), write=False) as session:
            waiting = (FulfilmentStatus.pending, FulfilmentStatus.submitting)
            count, oldest = session.exec(
                select(func.count(), func.min(Fulfilment.created_at)).where(
                    col(Fulfilment.status).in_(waiting)
                )
            ).one()
            yield _gauge(
                "storefront_fulfilment_outbox_pending", "Paid orders not yet accepted by the provider", count
            )
            yield _gauge(
                "storefront_fulfilment_outbox_oldest_age_seconds",
                "Seconds the oldest paid order has waited for the provider (0 when none wait)",
                _age(now, _epoch(oldest)),
            )
            orders = GaugeMetricFamily("storefront_orders", "Orders by status", labels=["status"])
            for status, n in session.exec(select(Order.status, func.count()).group_by(Order.status)):
                orders.add_metric([status], n)
            yield orders
            payments = GaugeMetricFamily(
                "storefront_payments", "Card payment attempts for orders by status", labels=["status"]
            )
            for status, n in session.exec(select(Payment.status, func.count()).group_by(Payment.status)):
                payments.add_metric([status], n)
            yield payments
            backlog = GaugeMetricFamily(
                "storefront_webhook_events_unprocessed",
                "Stored webhook events not yet processed, by source and state (waiting, failing)",
                labels=["source", "state"],
            )
            failing = func.sum(case((col(InboundEvent.error) != "", 1), else_=0))
            rows = session.exec(
                select(InboundEvent.source, func.count(), failing)
                .where(col(InboundEvent.processed_at).is_(None))
                .group_by(InboundEvent.source)
            )
            for source, total, failed in rows:
                backlog.add_metric([source, "waiting"], total - (failed or 0))
                backlog.add_metric([source, "failing"], failed or 0)
            yield backlog


def _epoch(value: object) -> float | None:
    from datetime import UTC, datetime

    if not isinstance(value, datetime):
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    if MULTIPROCESS:
        MultiProcessCollector(registry)
    else:
        for metric in _PER_REQUEST:
            registry.register(metric)
    registry.register(ShopStateCollector())
    return registry


@router.get("/metrics", name="metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    from store.deps import client_ip

    if not allowed(client_ip(request), get_settings().metrics_allow):
        return PlainTextResponse("Forbidden\n", status_code=403)
    return Response(generate_latest(_registry()), media_type=CONTENT_TYPE_LATEST)
