"""Printful (API v1) over httpx: bounded retries, Retry-After, and never two orders for one external_id."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_exponential_jitter

from store.config import Settings
from store.db import assert_no_write_lock
from store.fulfilment.providers.base import (
    ProviderConfigError,
    ProviderError,
    ProviderItem,
    ProviderOrder,
    ProviderOrderRequest,
    ProviderRejectedError,
    ProviderTemporaryError,
    Recipient,
    Shipment,
    ShippingRate,
    validate_external_id,
)
from store.money import Money

logger = logging.getLogger("store.fulfilment")

T = TypeVar("T")

TIMEOUT = httpx.Timeout(20.0, connect=5.0)
MAX_ATTEMPTS = 4
MAX_RETRY_AFTER = 60.0  # a longer wait belongs to the job queue, not a blocked worker
_backoff = wait_exponential_jitter(initial=0.5, max=8.0, jitter=0.5)


class _Retryable(Exception):
    """One attempt failed in a way that may succeed later (5xx, 429, network, unreadable answer)."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class _NotFound(ProviderError):
    pass


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    url: str
    types: tuple[str, ...]


class PrintfulProvider:
    name = "printful"

    def __init__(
        self,
        settings: Settings,
        *,
        client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not settings.printful_token:
            raise ProviderConfigError("STORE_PRINTFUL_TOKEN is not set")
        self._base = settings.printful_api_base.rstrip("/")
        # Sent per request (not baked into the client) so an injected client still authenticates.
        self._headers = {"Authorization": f"Bearer {settings.printful_token}", "Accept": "application/json"}
        self._owns_client = client is None
        self._client = client if client is not None else httpx.Client(timeout=TIMEOUT)
        self._sleep = sleep

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> PrintfulProvider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the interface ---------------------------------------------------------------------------

    def find_order(self, external_id: str) -> ProviderOrder | None:
        validate_external_id(external_id)
        try:
            result = self._retrying(
                lambda _n: self._send("GET", f"/orders/@{external_id}", external_id=external_id),
                what="find_order",
                external_id=external_id,
            )
        except _NotFound:
            return None
        return _order_from(result)

    def submit_order(self, req: ProviderOrderRequest) -> ProviderOrder:
        external_id = validate_external_id(req.external_id)
        existing = self.find_order(external_id)
        if existing is not None:
            logger.info(
                "printful order already exists",
                extra={"external_id": external_id, "status": existing.status},
            )
            return existing
        body = _order_body(req)

        def attempt(n: int) -> ProviderOrder:
            if n > 1:
                # The last POST may have created the order even though we never saw the answer.
                found = self.find_order(external_id)
                if found is not None:
                    logger.info(
                        "printful order found after a lost answer",
                        extra={"external_id": external_id, "attempt": n, "status": found.status},
                    )
                    return found
            try:
                result = self._send(
                    "POST", "/orders", params={"confirm": "true"}, json=body, external_id=external_id
                )
            except ProviderRejectedError:
                # "External ID already exists": another worker won the race; adopt its order.
                found = self.find_order(external_id)
                if found is not None:
                    return found
                raise
            return _order_from(result)

        order = self._retrying(attempt, what="submit_order", external_id=external_id)
        logger.info("printful order submitted", extra={"external_id": external_id, "status": order.status})
        return order

    def shipping_rates(self, recipient: Recipient, items: list[ProviderItem]) -> list[ShippingRate]:
        currency = items[0].retail_price.currency if items else "GBP"
        body = {
            "recipient": _drop_none(
                {
                    "address1": recipient.address1,
                    "city": recipient.city,
                    "country_code": recipient.country_code,
                    "state_code": recipient.state_code,
                    "zip": recipient.zip,
                }
            ),
            "items": [{**_variant_ref(item), "quantity": item.quantity} for item in items],
            "currency": currency,
            "locale": "en_GB",
        }
        result = self._retrying(
            lambda _n: self._send("POST", "/shipping/rates", json=body),
            what="shipping_rates",
            external_id=None,
        )
        if not isinstance(result, list):
            raise ProviderError("Printful shipping rates answer is not a list")
        return [_rate_from(r) for r in result if isinstance(r, dict)]

    def cancel_order(self, external_id: str) -> None:
        validate_external_id(external_id)
        try:
            self._retrying(
                lambda _n: self._send("DELETE", f"/orders/@{external_id}", external_id=external_id),
                what="cancel_order",
                external_id=external_id,
            )
        except _NotFound:
            # Nothing there means nothing will be printed, which is what cancelling wants.
            logger.warning("printful order to cancel not found", extra={"external_id": external_id})

    def confirm_order(self, external_id: str) -> ProviderOrder:
        """POST /orders/@{external_id}/confirm: send a draft (or an order held for approval) to production."""
        validate_external_id(external_id)

        def attempt(n: int) -> ProviderOrder:
            if n > 1:
                # A lost answer may hide a confirmation that happened: look before confirming again.
                found = self.find_order(external_id)
                if found is not None and found.status not in ("draft", "onhold"):
                    return found
            return _order_from(self._send("POST", f"/orders/@{external_id}/confirm", external_id=external_id))

        try:
            return self._retrying(attempt, what="confirm_order", external_id=external_id)
        except _NotFound:
            raise ProviderRejectedError(
                "Printful has no order with this number", status_code=404, reason="not found"
            ) from None

    # -- going live: the token, our webhook, sync variants (storefront check / webhooks register) ----

    def webhook_config(self) -> WebhookConfig | None:
        """GET /webhooks: where Printful sends its events and which ones; None when nothing is set.

        A read-only call that needs a good token, so it doubles as the token check.
        """
        result = self._retrying(
            lambda _n: self._send("GET", "/webhooks"), what="webhook_config", external_id=None
        )
        return _webhook_config_from(result)

    def set_webhook_config(self, url: str, types: list[str]) -> WebhookConfig:
        """POST /webhooks: Printful keeps one URL per store; setting it again replaces, never duplicates."""
        body = {"url": url, "types": sorted(types)}
        result = self._retrying(
            lambda _n: self._send("POST", "/webhooks", json=body), what="set_webhook_config", external_id=None
        )
        config = _webhook_config_from(result)
        if config is None:
            raise ProviderError("Printful did not confirm the webhook URL")
        logger.info("printful webhook set", extra={"url": url, "types": sorted(types)})
        return config

    def has_sync_variant(self, sku: str) -> bool:
        """True when the store has a sync variant with our SKU as its external id (files live in Printful)."""
        try:
            self._retrying(
                lambda _n: self._send("GET", f"/store/variants/@{quote(sku, safe='')}"),
                what="sync_variant",
                external_id=None,
            )
        except _NotFound:
            return False
        return True

    # -- HTTP --------------------------------------------------------------------------------------

    def _retrying(self, op: Callable[[int], T], *, what: str, external_id: str | None) -> T:
        """Run op(attempt_number) with backoff on _Retryable; give up as ProviderTemporaryError."""

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, _Retryable) and exc.retry_after is not None:
                return min(exc.retry_after, MAX_RETRY_AFTER)
            return float(_backoff(state))

        def log_retry(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            logger.warning(
                "printful %s failed, retrying: %s",
                what,
                exc,
                extra={
                    "external_id": external_id,
                    "attempt": state.attempt_number,
                    "status": getattr(exc, "status", None),
                },
            )

        retrying = Retrying(
            stop=stop_after_attempt(MAX_ATTEMPTS),
            wait=wait,
            retry=retry_if_exception_type(_Retryable),
            sleep=self._sleep,
            before_sleep=log_retry,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return op(attempt.retry_state.attempt_number)
        except _Retryable as exc:
            logger.error(
                "printful %s gave up: %s",
                what,
                exc,
                extra={"external_id": external_id, "attempt": MAX_ATTEMPTS, "status": exc.status},
            )
            raise ProviderTemporaryError(f"Printful {what} failed: {exc}", status_code=exc.status) from exc
        raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover

    def _send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, str] | None = None,
        external_id: str | None = None,
    ) -> Any:
        """One request; returns Printful's `result` or raises a typed error."""
        assert_no_write_lock(f"Printful {method} {path}")
        try:
            resp = self._client.request(
                method, self._base + path, json=json, params=params, headers=self._headers, timeout=TIMEOUT
            )
        except httpx.TransportError as exc:
            # Timeouts and dropped connections: the request may or may not have been acted on.
            raise _Retryable(f"{type(exc).__name__}: {exc}") from exc
        status = resp.status_code
        payload = _json_or_none(resp)
        if status == 429:
            raise _Retryable("rate limited", status=429, retry_after=_retry_after(resp))
        if status >= 500:
            raise _Retryable(f"HTTP {status}", status=status)
        if status == 404:
            raise _NotFound("not found", status_code=404)
        if status in (401, 403):
            raise ProviderConfigError(f"Printful refused our token: {_reason(payload)}", status_code=status)
        if status >= 400:
            reason = _reason(payload)
            logger.warning(
                "printful rejected %s %s: %s",
                method,
                path,
                reason,
                extra={"external_id": external_id, "status": status},
            )
            raise ProviderRejectedError(f"Printful refused: {reason}", status_code=status, reason=reason)
        if not isinstance(payload, dict) or "result" not in payload:
            raise _Retryable(f"unreadable answer (HTTP {status})", status=status)
        return payload["result"]


# -- request bodies -----------------------------------------------------------------------------------


def _major(money: Money) -> str:
    return f"{money.to_major():.2f}"


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def _variant_ref(item: ProviderItem) -> dict[str, Any]:
    if item.variant_id is not None:
        return {"variant_id": item.variant_id}
    return {"external_variant_id": item.sku}  # a product synced to Printful under our SKU


def _order_body(req: ProviderOrderRequest) -> dict[str, Any]:
    r = req.recipient
    recipient = _drop_none(
        {
            "name": r.name,
            "address1": r.address1,
            "address2": r.address2,
            "city": r.city,
            "state_code": r.state_code,
            "country_code": r.country_code,
            "zip": r.zip,
            "email": r.email,
            "phone": r.phone,
        }
    )
    items = [
        {
            **_variant_ref(item),
            "sku": item.sku,
            "name": item.name or None,
            "quantity": item.quantity,
            "retail_price": _major(item.retail_price),
            "files": [{"url": url} for url in item.files],
        }
        for item in req.items
    ]
    body: dict[str, Any] = {
        "external_id": req.external_id,
        "recipient": recipient,
        "items": [_drop_none(i) for i in items],
    }
    if req.retail_costs is not None:
        costs: dict[str, Any] = {}
        for key, value in req.retail_costs.items():
            if isinstance(value, Money):
                costs.setdefault("currency", value.currency)
                costs[key] = _major(value)
            else:
                costs[key] = value
        body["retail_costs"] = costs
    return body


# -- answers --------------------------------------------------------------------------------------------


def _json_or_none(resp: httpx.Response) -> Any:
    try:
        return resp.json()
    except (ValueError, UnicodeDecodeError):
        return None


def _reason(payload: Any) -> str:
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(payload.get("result"), str):
            return str(payload["result"])
    return "no reason given"


def _retry_after(resp: httpx.Response) -> float | None:
    value = resp.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:  # the HTTP-date form
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _to_money(value: Any, currency: str) -> Money:
    """Printful sends decimal strings ("4.29"); go through Decimal so no float ever touches money."""
    try:
        major = Decimal(str(value))
    except InvalidOperation as exc:
        raise ProviderError(f"Printful sent a rate that is not a number: {value!r}") from exc
    if not major.is_finite():
        raise ProviderError(f"Printful sent a rate that is not a number: {value!r}")
    return Money(int((major * 100).quantize(Decimal(1), ROUND_HALF_UP)), currency)


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _str_or_none(value: Any) -> str | None:
    return str(value) if value is not None else None


def _shipment_from(d: dict[str, Any]) -> Shipment:
    return Shipment(
        carrier=_str_or_none(d.get("carrier")),
        service=_str_or_none(d.get("service")),
        tracking_number=_str_or_none(d.get("tracking_number")),
        tracking_url=_str_or_none(d.get("tracking_url")),
    )


def _order_from(result: Any) -> ProviderOrder:
    if not isinstance(result, dict) or result.get("id") is None:
        # A 2xx we cannot read may still mean "created": retrying goes through the find-first check.
        raise _Retryable("unreadable order in Printful's answer")
    shipments = result.get("shipments") or []
    return ProviderOrder(
        provider_id=str(result["id"]),
        external_id=str(result.get("external_id") or ""),
        status=str(result.get("status") or ""),
        shipments=[_shipment_from(s) for s in shipments if isinstance(s, dict)],
        raw=result,
    )


def _webhook_config_from(result: Any) -> WebhookConfig | None:
    if not isinstance(result, dict) or not result.get("url"):
        return None
    types = result.get("types") or []
    return WebhookConfig(url=str(result["url"]), types=tuple(str(t) for t in types if isinstance(t, str)))


def _rate_from(d: dict[str, Any]) -> ShippingRate:
    return ShippingRate(
        id=str(d.get("id", "")),
        name=str(d.get("name", "")),
        rate=_to_money(d.get("rate"), str(d.get("currency") or "GBP")),
        min_days=_int_or_none(d.get("minDeliveryDays")),
        max_days=_int_or_none(d.get("maxDeliveryDays")),
    )


# -- webhooks -------------------------------------------------------------------------------------------


def verify_webhook_signature(raw_body: bytes, header_value: str | None, secret: str) -> bool:
    """True only when x-pf-webhook-signature is the HMAC-SHA256 hex of the exact raw body."""
    if not secret or not header_value:
        return False
    given = header_value.strip().lower()
    if not given.isascii():
        return False
    expected = hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), given.encode())


@dataclass(frozen=True, slots=True, kw_only=True)
class PrintfulEvent:
    type: str
    created: int | None
    external_id: str | None
    order_status: str | None
    shipment: Shipment | None
    reason: str | None
    raw: dict[str, Any]


def parse_webhook(raw_body: bytes) -> PrintfulEvent:
    """Read a (verified) webhook body; missing fields become None. ValueError if it is not a JSON object."""
    envelope = json.loads(raw_body)
    if not isinstance(envelope, dict):
        raise ValueError("Printful webhook body is not a JSON object")
    data = envelope.get("data")
    data = data if isinstance(data, dict) else {}
    order = data.get("order")
    order = order if isinstance(order, dict) else {}
    shipment = data.get("shipment")
    return PrintfulEvent(
        type=str(envelope.get("type") or ""),
        created=_int_or_none(envelope.get("created")),
        external_id=_str_or_none(order.get("external_id")),
        order_status=_str_or_none(order.get("status")),
        shipment=_shipment_from(shipment) if isinstance(shipment, dict) else None,
        reason=_str_or_none(data.get("reason")),
        raw=envelope,
    )
