"""The staff orders export: one CSV row per order line, streamed in batches (never built in memory).

Order-level figures (shipping, discount, order total, refunded) are on each order's first row only,
as Shopify's order export does, so adding up a column gives the right total. Money is in pounds with
two decimals; dates are UK time.
"""

from __future__ import annotations

from collections.abc import Iterator

from store.csvio import BOM, rows_text
from store.db import unit_of_work
from store.money import Money
from store.order import repository
from store.order.models import Order, OrderLine
from store.order.repository import OrderFilter
from store.timeutil import london_time

BATCH = 500
HEADER = (
    "Order",
    "Date (UK time)",
    "Status",
    "Customer",
    "Email",
    "Country",
    "SKU",
    "Title",
    "Options",
    "Quantity",
    "Unit price",
    "VAT",
    "Line total",
    "Shipping",
    "Discount",
    "Order total",
    "Refunded",
)


def pounds(pence: int, currency: str = "GBP") -> str:
    return f"{Money(pence, currency).to_major():.2f}"


def filename(raw: dict[str, str]) -> str:
    if raw.get("from") or raw.get("to"):
        return f"orders-{raw.get('from') or 'start'}-to-{raw.get('to') or 'today'}.csv"
    return "orders.csv"


def order_rows(order: Order, lines: list[OrderLine]) -> Iterator[tuple[str | int, ...]]:
    money = order.currency
    head = (
        order.number,
        london_time(order.created_at).strftime("%Y-%m-%d %H:%M"),
        order.status,
        order.full_name,
        order.email,
        order.country,
    )
    totals = (
        pounds(order.shipping_amount, money),
        pounds(order.discount_amount, money),
        pounds(order.total, money),
        pounds(order.amount_refunded, money),
    )
    if not lines:  # never made by checkout; still one row, so every order in the range is there
        yield (*head, "", "", "", "", "", "", "", *totals)
        return
    for index, line in enumerate(lines):
        yield (
            *head,
            line.sku,
            line.product_title,
            " / ".join(str(v) for v in line.options.values()),
            line.quantity,
            pounds(line.unit_price, money),
            pounds(line.vat_amount, money),
            pounds(line.line_total, money),
            *(totals if index == 0 else ("", "", "", "")),
        )


def csv_chunks(filters: OrderFilter, *, batch: int | None = None) -> Iterator[str]:
    """The CSV text, a batch of orders at a time; each batch in its own short read transaction."""
    batch = batch or BATCH
    yield BOM + rows_text([HEADER])
    after = 0
    while True:
        with unit_of_work(write=False) as session:
            orders = list(repository.export_batch(session, filters, after_id=after, limit=batch))
            lines = repository.lines_for(session, [o.id for o in orders if o.id is not None])
        if not orders:
            return
        yield rows_text(row for order in orders for row in order_rows(order, lines[order.id or 0]))
        after = orders[-1].id or after
