"""Emails about an order. (The orders issue fills in the full confirmation content.)"""

from __future__ import annotations

from sqlmodel import Session

from store.mail.service import queue_email
from store.order.models import Order


def queue_confirmation(session: Session, *, order: Order) -> None:
    from store.config import get_settings

    link = f"{get_settings().base_url.rstrip('/')}/orders/{order.token}"
    queue_email(
        session,
        key=f"order-{order.number}-confirmation",
        to=order.email,
        subject=f"Thank you for your order {order.number}",
        text=f"Thank you for your order {order.number}.\n\nFollow it here: {link}\n",
    )
