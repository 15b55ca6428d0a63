"""typed order events (order_event.data, kinds mapped from the old free text); email send claims

Revision ID: 0009_flow
Revises: 0009_staff
Create Date: 2026-12-02

order_event.kind was free text ("status", "payment", "refund", "note") and code found earlier events
by their message's words. Each existing row gets its event type and the facts its message held, so
code reads `kind` + `data` from now on; the message stays as the words staff read.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0009_flow"
down_revision: str | Sequence[str] | None = "0009_staff"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MONEY = r"£([0-9,]+\.[0-9]{2})"


def _pence(text: str) -> int:
    return int(round(float(text.replace(",", "")) * 100))


def typed(kind: str, message: str, to_status: str | None, order_total: int) -> tuple[str, dict[str, Any]]:
    """The event type and data for an old row (kept pure so a test can check the mapping)."""
    if kind == "status":
        paid = re.fullmatch(r"Payment (\S+) succeeded\.", message)
        if to_status == "paid" and paid:
            return "payment_succeeded", {"intent_id": paid.group(1), "amount": order_total}
        return "status_changed", {}
    if kind == "note":
        return ("order_placed", {}) if message.startswith("Order placed") else ("note", {})
    if kind == "payment":
        second = re.match(
            rf"Second payment (\S+) of {_MONEY} succeeded, but the order was already paid by (\S+)\.", message
        )
        if second:
            return "second_payment", {
                "intent_id": second.group(1),
                "amount": _pence(second.group(2)),
                "paid_by": second.group(3),
            }
        late = re.match(rf"Payment (\S+) of {_MONEY} succeeded after the order was cancelled\.", message)
        if late:
            return "payment_after_cancellation", {"intent_id": late.group(1), "amount": _pence(late.group(2))}
        mismatch = re.match(r"Payment (\S+) of (\d+) does not match the order total (\d+)", message)
        if mismatch:
            return "payment_mismatch", {
                "intent_id": mismatch.group(1),
                "amount": int(mismatch.group(2)),
                "expected": int(mismatch.group(3)),
            }
        failed = re.match(r"Payment (\S+) failed: (.*)$", message, re.S)
        if failed:
            return "payment_failed", {"intent_id": failed.group(1), "reason": failed.group(2)}
        attempt = re.match(r"Payment attempt not completed: (.*)$", message, re.S)
        if attempt:
            return "payment_failed", {"intent_id": None, "reason": attempt.group(1)}
        return "note", {}
    if kind == "refund":
        made = re.match(rf"Refunded {_MONEY}( in full)? \((\S+)\)\. {_MONEY} of", message)
        if made:
            return "refund_succeeded", {
                "refund_id": None,
                "stripe_refund_id": made.group(3),
                "amount": _pence(made.group(1)),
                "refunded": _pence(made.group(4)),
                "in_full": bool(made.group(2)),
            }
        refused = re.match(rf"Refund of {_MONEY} failed: (.*)$", message, re.S)
        if refused:
            return "refund_failed", {
                "refund_id": None,
                "amount": _pence(refused.group(1)),
                "reason": refused.group(2),
            }
        return "note", {}
    return "note", {}


def upgrade() -> None:
    with op.batch_alter_table("order_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("data", sa.JSON(), nullable=False, server_default=sa.text("'{}'")))
    with op.batch_alter_table("outbound_email", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))

    bind = op.get_bind()
    event = sa.table(
        "order_event",
        sa.column("id", sa.Integer),
        sa.column("order_id", sa.Integer),
        sa.column("kind", sa.String),
        sa.column("message", sa.String),
        sa.column("to_status", sa.String),
        sa.column("data", sa.JSON),
    )
    order = sa.table("shop_order", sa.column("id", sa.Integer), sa.column("total", sa.Integer))
    rows = bind.execute(
        sa.select(event.c.id, event.c.kind, event.c.message, event.c.to_status, order.c.total).join(
            order, order.c.id == event.c.order_id
        )
    ).all()
    for row_id, kind, message, to_status, total in rows:
        new_kind, data = typed(kind or "", message or "", to_status, int(total or 0))
        bind.execute(sa.update(event).where(event.c.id == row_id).values(kind=new_kind, data=data))


def downgrade() -> None:
    bind = op.get_bind()
    back = {
        "status_changed": "status",
        "payment_succeeded": "status",
        "order_placed": "note",
        "payment_failed": "payment",
        "payment_mismatch": "payment",
        "second_payment": "payment",
        "payment_after_cancellation": "payment",
        "refund_succeeded": "refund",
        "refund_failed": "refund",
    }
    event = sa.table("order_event", sa.column("kind", sa.String))
    for new, old in back.items():
        bind.execute(sa.update(event).where(event.c.kind == new).values(kind=old))
    with op.batch_alter_table("outbound_email", schema=None) as batch_op:
        batch_op.drop_column("claimed_until")
    with op.batch_alter_table("order_event", schema=None) as batch_op:
        batch_op.drop_column("data")
