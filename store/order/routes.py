"""Orders over HTTP: the shopper's page and API by token, and the staff order desk."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from store.auth.models import Role, StaffUser
from store.deps import Db, require_role
from store.errors import DomainError
from store.money import Money
from store.order import export, refunds, repository, service
from store.order.models import Order, OrderEvent, OrderEventType, OrderStatus
from store.order.notifications import percent, staff_status_label
from store.order.repository import OrderFilter
from store.timeutil import london_midnight
from store.web import redirect, render

log = logging.getLogger("store.order")
router = APIRouter()

Fulfilment = Annotated[StaffUser, Depends(require_role(Role.fulfilment))]

PRIVATE_HEADERS = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex, nofollow"}

# What a shopper reads for each status word.
SHOPPER_STATUS = {
    "pending_payment": "Awaiting payment",
    "paid": "Paid",
    "submitted": "Sent to our printer",
    "in_production": "Being printed",
    "shipped": "On its way",
    "delivered": "Delivered",
    "on_hold": "On hold: we are sorting something out and will be in touch",
    "cancelled": "Cancelled",
    "refunded": "Refunded",
}
SHOPPER_EVENT = {
    "paid": "Payment received",
    "submitted": "Sent to our printer",
    "in_production": "Being printed",
    "shipped": "Shipped",
    "delivered": "Delivered",
    "on_hold": "Put on hold while we sort something out",
    "cancelled": "Order cancelled",
    "refunded": "Refunded in full",
}


def _shopper_timeline(order: Order, events: list[OrderEvent]) -> list[tuple[Any, str]]:
    """(when, friendly words): the order's history as a shopper should read it; no internals."""
    items: list[tuple[Any, str]] = [(order.created_at, "Order placed")]
    for event in events:
        if event.to_status in SHOPPER_EVENT:
            items.append((event.created_at, SHOPPER_EVENT[event.to_status]))
        elif event.kind == OrderEventType.refund_succeeded and not event.data.get("in_full"):
            amount = order.money(int(event.data.get("amount") or 0)).format()
            items.append((event.created_at, f"Part refund of {amount}"))
    return items


def _money_json(order: Order, amount: int) -> dict[str, int | str]:
    return Money(amount, order.currency).as_json()


def _shipment_json(shipment: Any) -> dict[str, str | None]:
    return {
        "carrier": shipment.carrier,
        "tracking_number": shipment.tracking_number,
        "tracking_url": shipment.tracking_url or None,
    }


@router.get("/orders/{token}", name="order.show")
def show(request: Request, token: str, db: Db) -> Response:
    order = service.get_by_token(db, token)
    context = {
        "order": order,
        "status_label": SHOPPER_STATUS.get(order.status, order.status),
        "lines": repository.lines(db, order),
        "timeline": _shopper_timeline(order, list(repository.events(db, order))),
        "shipments": repository.shipments(db, order),
        "money": order.money,
        "percent": percent,
    }
    response = render(request, "orders/show.html", context)
    response.headers.update(PRIVATE_HEADERS)
    return response


@router.get("/api/orders/{token}", name="order.api")
def api_show(token: str, db: Db) -> Response:
    order = service.get_by_token(db, token)
    body = {
        "number": order.number,
        "status": order.status,
        "lines": [
            {
                "sku": line.sku,
                "title": line.product_title,
                "options": line.options,
                "quantity": line.quantity,
                "unit_price": _money_json(order, line.unit_price),
                "line_total": _money_json(order, line.line_total),
                "vat_rate_bp": line.vat_rate_bp,
                "vat": _money_json(order, line.vat_amount),
            }
            for line in repository.lines(db, order)
        ],
        "subtotal": _money_json(order, order.subtotal),
        "discount": _money_json(order, order.discount_amount),
        "shipping": _money_json(order, order.shipping_amount),
        "vat": _money_json(order, order.vat_amount),
        "total": _money_json(order, order.total),
        "refunded": _money_json(order, order.amount_refunded),
        "shipments": [_shipment_json(s) for s in repository.shipments(db, order)],
    }
    return JSONResponse(body, headers=PRIVATE_HEADERS)


# --- staff ------------------------------------------------------------------------------------------


NEEDS = {"shipping": "To post by hand", "refund": "A refund pending"}


def _parse_day(raw: str, field: str, errors: dict[str, str]) -> date | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors[field] = "Enter a date like 2026-12-02."
        return None


def _filters(
    status: str, q: str, needs: str, placed_from: str, placed_to: str
) -> tuple[OrderFilter, dict[str, str]]:
    """The list's filters from the query string; dates are UK days, `to` inclusive."""
    errors: dict[str, str] = {}
    first = _parse_day(placed_from, "from", errors)
    last = _parse_day(placed_to, "to", errors)
    if first and last and last < first:
        errors["to"] = "The end date is before the start date."
    filters = OrderFilter(
        status=status if status in OrderStatus.__members__ else None,
        query=q,
        needs=needs if needs in NEEDS else "",
        placed_from=london_midnight(first) if first and not errors else None,
        placed_before=london_midnight(last + timedelta(days=1)) if last and not errors else None,
    )
    return filters, errors


StatusQ = Annotated[str, Query(max_length=40)]
SearchQ = Annotated[str, Query(max_length=200)]
NeedsQ = Annotated[str, Query(max_length=20)]
FromQ = Annotated[str, Query(alias="from", max_length=20)]
ToQ = Annotated[str, Query(alias="to", max_length=20)]


def _list_page(request: Request, db: Db, raw: dict[str, str], page: int) -> Response:
    filters, errors = _filters(raw["status"], raw["q"], raw["needs"], raw["from"], raw["to"])
    orders, has_next = ([], False) if errors else repository.search(db, filters=filters, page=page)
    kept = {k: v for k, v in raw.items() if v}
    return render(
        request,
        "staff/orders/list.html",
        {
            "orders": orders,
            "statuses": [s.value for s in OrderStatus],
            "status": filters.status or "",
            "needs_options": NEEDS,
            "values": raw,
            "errors": errors,
            "filtered": bool(kept),
            "query_string": urlencode(kept),
            "page": page,
            "has_next": has_next,
            "Money": Money,
            "status_label": staff_status_label,
        },
        status_code=422 if errors else 200,
    )


@router.get("/staff/orders", name="order.staff_list")
def staff_list(
    request: Request,
    db: Db,
    user: Fulfilment,
    status: StatusQ = "",
    q: SearchQ = "",
    needs: NeedsQ = "",
    placed_from: FromQ = "",
    placed_to: ToQ = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    raw = {"status": status, "q": q, "needs": needs, "from": placed_from, "to": placed_to}
    return _list_page(request, db, raw, page)


@router.get("/staff/orders.csv", name="order.staff_export")
def staff_export(
    request: Request,
    db: Db,
    user: Fulfilment,
    status: StatusQ = "",
    q: SearchQ = "",
    needs: NeedsQ = "",
    placed_from: FromQ = "",
    placed_to: ToQ = "",
) -> Response:
    raw = {"status": status, "q": q, "needs": needs, "from": placed_from, "to": placed_to}
    filters, errors = _filters(status, q, needs, placed_from, placed_to)
    if errors:
        return _list_page(request, db, raw, 1)
    log.info("orders exported", extra={"staff": user.email, "filters": {k: v for k, v in raw.items() if v}})
    return StreamingResponse(
        export.csv_chunks(filters),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{export.filename(raw)}"',
            "Cache-Control": "no-store",
        },
    )


def _detail(
    request: Request,
    db: Db,
    number: str,
    *,
    errors: dict[str, str] | None = None,
    amount: str = "",
    status_code: int = 200,
) -> Response:
    order = service.get_by_number(db, number)
    return render(
        request,
        "staff/orders/detail.html",
        {
            "order": order,
            "lines": repository.lines(db, order),
            "events": repository.events(db, order),
            "payments": repository.payments(db, order),
            "refunds": repository.refunds(db, order),
            "shipments": repository.shipments(db, order),
            "refundable": service.refundable(db, order),
            "cancellable": order.status in service.CANCELLABLE,
            "status_label": staff_status_label(order.status),
            "money": order.money,
            "percent": percent,
            "errors": errors or {},
            "amount": amount,
        },
        status_code=status_code,
    )


@router.get("/staff/orders/{number}", name="order.staff_detail")
def staff_detail(request: Request, number: str, db: Db, user: Fulfilment) -> Response:
    return _detail(request, db, number)


@router.post("/staff/orders/{number}/refund", name="order.staff_refund")
def staff_refund(
    request: Request,
    number: str,
    db: Db,
    user: Fulfilment,
    amount: Annotated[str, Form()] = "",
) -> Response:
    order = service.get_by_number(db, number)
    pence: int | None = None
    if amount.strip():
        try:
            if len(amount) > 20:
                raise ValueError("Enter an amount in pounds, like 25.00")
            pence = Money.from_major(amount, order.currency).amount
        except ValueError as exc:
            return _detail(
                request, db, number, errors={"amount": str(exc)}, amount=amount[:20], status_code=422
            )
    db.rollback()  # the refund runs its own transactions; hold no snapshot or lock meanwhile
    try:
        outcome = refunds.refund_order(
            number=number, amount=pence, actor=f"staff:{user.email}", staff_email=user.email
        )
    except DomainError as exc:
        return _detail(
            request, db, number, errors={exc.field or "amount": exc.message}, amount=amount, status_code=422
        )
    category = "success" if outcome.status == "succeeded" else "error"
    return redirect(request.url_for("order.staff_detail", number=number).path, outcome.message, category)


@router.post("/staff/orders/{number}/cancel", name="order.staff_cancel")
def staff_cancel(request: Request, number: str, db: Db, user: Fulfilment) -> Response:
    service.get_by_number(db, number)
    db.rollback()  # the cancellation runs its own transactions; hold no snapshot or lock meanwhile
    outcome = refunds.cancel_order(number=number, actor=f"staff:{user.email}", staff_email=user.email)
    if not outcome.cancelled:
        return _detail(request, db, number, errors={"cancel": outcome.message}, status_code=409)
    return redirect(request.url_for("order.staff_detail", number=number).path, outcome.message, "success")
