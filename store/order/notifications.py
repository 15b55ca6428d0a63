"""Emails about an order, queued in the caller's transaction and sent by a job after commit."""

from __future__ import annotations

from sqlmodel import Session

from store.config import get_settings
from store.mail.service import queue_email, render_email
from store.order import repository
from store.order.models import Order


def staff_status_label(status: str) -> str:
    """What staff call a status where the word alone misleads: with manual fulfilment a paid order is
    theirs to print and post ("To ship"); "submitted" always means a print provider accepted it."""
    if status == "paid" and get_settings().fulfilment == "manual":
        return "To ship"
    return ""


def percent(basis_points: int) -> str:
    """2000 -> "20%", 1250 -> "12.5%": a VAT rate as people write it."""
    whole, rest = divmod(basis_points, 100)
    return f"{whole}%" if rest == 0 else f"{whole}.{rest:02d}".rstrip("0") + "%"


def order_link(order: Order) -> str:
    return f"{get_settings().base_url.rstrip('/')}/orders/{order.token}"


def queue_confirmation(session: Session, *, order: Order) -> bool:
    """The confirmation: lines, VAT, shipping, discount, total, delivery address and the order's link.

    Keyed by order number, so a second call (a redelivered webhook) sends nothing."""
    lines = repository.lines(session, order)
    text, html = render_email(
        "order_confirmation",
        order=order,
        lines=lines,
        link=order_link(order),
        money=order.money,
        percent=percent,
        by_hand=get_settings().fulfilment == "manual",  # staff print and post it; no printer to send to
    )
    return queue_email(
        session,
        key=f"order-{order.number}-confirmation",
        to=order.email,
        subject=f"Thank you for your order {order.number}",
        text=text,
        html=html,
    )
