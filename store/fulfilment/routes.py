"""HTTP for fulfilment: the provider's webhook, the exception desk, and the order page's actions."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import JSONResponse, Response

from store.auth.models import Role, StaffUser
from store.deps import Db, require_role
from store.errors import DomainError, NotFound
from store.fulfilment import actions, repository, service, webhooks
from store.order.service import get_by_number, lock_order
from store.timeutil import utcnow
from store.web import RawBody, redirect, render

log = logging.getLogger("store.fulfilment")
router = APIRouter()

Fulfiller = Annotated[StaffUser, Depends(require_role(Role.fulfilment))]


# -- the provider's webhook -------------------------------------------------------------------------------


@router.post("/webhooks/printful", name="fulfilment.printful_webhook")
def printful_webhook(request: Request, db: Db, raw: RawBody) -> Response:
    """Verify, store (deduplicated by a hash of the body), answer at once; a job does the work."""
    received = webhooks.receive(db, raw, request.headers.get("x-pf-webhook-signature"))
    if received.status == "bad_signature":
        return JSONResponse({"detail": received.detail}, status_code=401)
    if received.status == "bad_body":
        return JSONResponse({"detail": received.detail}, status_code=400)
    return JSONResponse({"status": "duplicate" if received.status == "duplicate" else "accepted"})


# -- the exception desk -----------------------------------------------------------------------------------


@router.get("/staff/fulfilment", name="fulfilment.desk")
def desk(request: Request, db: Db, user: Fulfiller) -> Response:
    now = utcnow()
    rows = repository.desk_rows(db, now=now, stuck_before=now - service.stuck_after())
    items = [
        {
            "fulfilment": f,
            "order": o,
            "label": _label(f.status, stuck=f.status in ("pending", "submitting")),
            "attempts": repository.attempts_for(db, f.id) if f.id is not None else [],
        }
        for f, o in rows
    ]
    return render(request, "staff/fulfilment/desk.html", {"items": items})


@router.get("/staff/fulfilment/{number}", name="fulfilment.detail")
def detail(request: Request, number: str, db: Db, user: Fulfiller) -> Response:
    found = repository.fulfilment_for_number(db, number)
    if found is None:
        raise NotFound("No fulfilment for that order.")
    f, order = found
    assert f.id is not None
    return render(
        request,
        "staff/fulfilment/detail.html",
        {
            "fulfilment": f,
            "order": order,
            "label": _label(f.status, stuck=service.is_stuck(f, utcnow())),
            "stuck": service.is_stuck(f, utcnow()),
            "attempts": repository.attempts_for(db, f.id),
            "shipments": repository.shipments_for_order(db, f.order_id),
        },
    )


def _label(status: str, *, stuck: bool) -> str:
    if stuck:
        return "Stuck"
    return {
        "failed": "Failed",
        "on_hold": "On hold",
        "needs_approval": "Needs approval",
        "cancelled": "Cancelled",
        "in_production": "In production",
    }.get(status, status.replace("_", " ").capitalize())


def _actor(user: StaffUser) -> str:
    return f"staff:{user.email}"


def _act(
    db: Db, number: str, user: StaffUser, action: Callable[..., object], back: str, done: str
) -> Response:
    """One staff action on a locked order; its refusal goes back to the page as the message."""
    order = lock_order(db, number)
    try:
        action(db, order=order, actor=_actor(user))
    except DomainError as exc:
        db.rollback()
        return redirect(back, exc.message, "error")
    return redirect(back, f"Order {number} {done}.")


@router.post("/staff/fulfilment/{number}/retry", name="fulfilment.retry")
def retry(number: str, db: Db, user: Fulfiller) -> Response:
    return _act(
        db, number, user, service.retry, f"/staff/fulfilment/{number}", "was sent back to the printer"
    )


@router.post("/staff/fulfilment/{number}/approve", name="fulfilment.approve")
def approve(number: str, db: Db, user: Fulfiller) -> Response:
    get_by_number(db, number)
    db.rollback()  # the approval runs its own transactions around the call to the printer
    outcome = actions.approve(number=number, actor=_actor(user))
    return redirect(f"/staff/fulfilment/{number}", outcome.message, "info" if outcome.ok else "error")


@router.post("/staff/fulfilment/{number}/cancel", name="fulfilment.cancel")
def cancel(number: str, db: Db, user: Fulfiller) -> Response:
    # The orders service owns cancelling and refunding (its own transactions); it stops the printer
    # first through store.fulfilment.actions.
    from store.order.refunds import cancel_order

    get_by_number(db, number)
    db.rollback()
    outcome = cancel_order(number=number, actor=_actor(user), staff_email=user.email)
    return redirect(f"/staff/fulfilment/{number}", outcome.message, "info" if outcome.cancelled else "error")


# -- actions on the staff order page (templates/fulfilment/_order_actions.html) ----------------------------


@router.post("/staff/orders/{number}/fulfilment/retry", name="fulfilment.order_retry")
def order_retry(number: str, db: Db, user: Fulfiller) -> Response:
    return _act(db, number, user, service.retry, f"/staff/orders/{number}", "was sent back to the printer")


@router.post("/staff/orders/{number}/fulfilment/ship", name="fulfilment.order_ship")
def order_ship(
    request: Request,
    number: str,
    db: Db,
    user: Fulfiller,
    carrier: Annotated[str, Form()] = "",
    tracking_number: Annotated[str, Form()] = "",
) -> Response:
    order = lock_order(db, number)
    try:
        service.mark_shipped_manually(
            db, order=order, carrier=carrier, tracking_number=tracking_number, actor=_actor(user)
        )
    except DomainError as exc:
        if exc.field is None and not isinstance(exc, NotFound):
            return redirect(f"/staff/orders/{number}", exc.message, "error")
        db.rollback()
        return render(
            request,
            "fulfilment/ship_form.html",
            {
                "order": order,
                "values": {"carrier": carrier, "tracking_number": tracking_number},
                "errors": {exc.field: exc.message},
            },
            status_code=422,
        )
    return redirect(f"/staff/orders/{number}", f"Order {number} was marked as shipped.")


@router.get("/staff/orders/{number}/fulfilment/ship", name="fulfilment.order_ship_form")
def order_ship_form(request: Request, number: str, db: Db, user: Fulfiller) -> Response:
    order = get_by_number(db, number)
    return render(request, "fulfilment/ship_form.html", {"order": order, "values": {}, "errors": {}})
