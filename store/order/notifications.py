"""Emails about an order, queued in the caller's transaction and sent by a job after commit."""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class Confirmation:
    """The confirmation email's bodies, rendered."""

    text: str
    html: str


def render_confirmation(session: Session, *, order: Order) -> Confirmation:
    """The confirmation: lines, VAT, shipping, discount, total, delivery address and the order's link.
    Reads only: a payment renders it before its transaction's first write (store/checkout/payments.py),
    so that under SQLite's write lock only the statements run."""
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
    return Confirmation(text, html)


def queue_confirmation(session: Session, *, order: Order, rendered: Confirmation | None = None) -> bool:
    """Queue the confirmation (`rendered` beforehand, or now). Keyed by order number, so a second call
    (a redelivered webhook) sends nothing."""
    rendered = rendered or render_confirmation(session, order=order)
    return queue_email(
        session,
        key=f"order-{order.number}-confirmation",
        to=order.email,
        subject=f"Thank you for your order {order.number}",
        text=rendered.text,
        html=rendered.html,
    )
