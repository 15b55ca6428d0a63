"""Orders, donations and issues placed at exact times, for the dashboard and export tests.

    order = make_order(db, status="shipped", paid_at=at(-1, 10), lines=[tee(2500, qty=1, cost=1150), round_up(50)])

Lines are dicts as OrderLine takes them; `tee` works out the VAT (20 % included) and line total. The
order's total is its lines plus shipping; `created_at` is the paid time (or `created_at`).
"""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

from store.donation.models import Donation, DonationPayment
from store.fulfilment.models import Fulfilment
from store.money import Money
from store.order.models import Order, OrderLine, Refund

_numbers = itertools.count(1)


def tee(unit: int, *, qty: int = 1, cost: int = 0, discount: int = 0, title: str = "Solidarity tee", sku: str = "RRM-TEE-M") -> dict[str, Any]:
    total = unit * qty - discount
    return {
        "kind": "product",
        "sku": sku,
        "product_title": title,
        "options": {"size": "M", "colour": "Red"},
        "quantity": qty,
        "unit_price": unit,
        "discount_amount": discount,
        "line_total": total,
        "vat_rate_bp": 2000,
        "vat_amount": Money(total).vat_included(2000).amount,
        "provider_cost": cost,
    }


def round_up(pence: int) -> dict[str, Any]:
    return {"kind": "donation", "product_title": "Round-up donation", "quantity": 1, "unit_price": pence, "line_total": pence}


def make_order(
    db,  # type: ignore[no-untyped-def]
    *,
    status: str,
    paid_at: datetime | None,
    lines: list[dict[str, Any]],
    shipping: int = 0,
    refunded: int = 0,
    article_id: int | None = None,
    created_at: datetime | None = None,
    fulfilment: tuple[str, str] | None = None,  # (provider, status)
    refund_pending: int = 0,
    email: str = "shopper@example.org",
    full_name: str = "Rosa Parks",
    number: str | None = None,
) -> Order:
    n = next(_numbers)
    placed = created_at or paid_at
    assert placed is not None
    order = Order(
        number=number or f"RR{n:05d}",
        token=f"tok-{n}-{placed.timestamp()}",
        status=status,
        email=email,
        full_name=full_name,
        address_line1="1 Cable Street",
        town="London",
        postcode="E1 8JQ",
        country="GB",
        subtotal=sum(line["unit_price"] * line["quantity"] for line in lines),
        discount_amount=sum(line.get("discount_amount", 0) for line in lines),
        shipping_amount=shipping,
        shipping_vat_amount=Money(shipping).vat_included(2000).amount,
        vat_amount=sum(line.get("vat_amount", 0) for line in lines),
        total=sum(line["line_total"] for line in lines) + shipping,
        amount_refunded=refunded,
        paid_at=paid_at,
        attribution_article_id=article_id,
        created_at=placed,
        updated_at=placed,
    )
    db.add(order)
    db.flush()
    for line in lines:
        db.add(OrderLine(order_id=order.id, **line))
    if fulfilment:
        db.add(Fulfilment(order_id=order.id, provider=fulfilment[0], status=fulfilment[1]))
    if refund_pending:
        db.add(Refund(order_id=order.id, idempotency_key=f"refund-{order.number}-1", amount=refund_pending, status="pending"))
    db.flush()
    return order


def donation(db, kind: str, pence: int, paid_at: datetime, *, article_id: int | None = None) -> None:  # type: ignore[no-untyped-def]
    n = next(_numbers)
    d = Donation(
        reference=f"don-{n:08d}",
        kind=kind,
        status="succeeded" if kind == "one_off" else "active",
        amount=pence,
        email="d@example.org",
        full_name="D",
        article_id=article_id,
    )
    db.add(d)
    db.flush()
    db.add(DonationPayment(donation_id=d.id, external_id=f"pay-{n}", amount=pence, paid_at=paid_at))
    db.flush()


def card_fee(total: int) -> int:
    """1.5 % + 20p, half up: written out again here so the tests do not trust the code they check."""
    if total <= 0:
        return 0
    from decimal import ROUND_HALF_UP, Decimal

    return int((Decimal(total) * Decimal("0.015")).quantize(Decimal(1), ROUND_HALF_UP)) + 20
