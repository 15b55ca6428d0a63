"""orders: refund status (pending before Stripe is asked), the intent that paid an order

Revision ID: 0005
Revises: 0002
Create Date: 2026-11-26 06:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("refund", schema=None) as batch_op:
        # Rows that existed before this revision were only ever written after Stripe succeeded.
        batch_op.add_column(
            sa.Column(
                "status",
                sqlmodel.sql.sqltypes.AutoString(length=20),
                nullable=False,
                server_default="succeeded",
            )
        )
        batch_op.add_column(
            sa.Column(
                "failure_message", sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default=""
            )
        )
        batch_op.add_column(sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.create_index(batch_op.f("ix_refund_status"), ["status"], unique=False)
    op.execute("UPDATE refund SET updated_at = created_at")
    with op.batch_alter_table("refund", schema=None) as batch_op:
        batch_op.alter_column("updated_at", existing_type=sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False)
    with op.batch_alter_table("shop_order", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("paid_intent_id", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("shop_order", schema=None) as batch_op:
        batch_op.drop_column("paid_intent_id")
    with op.batch_alter_table("refund", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_refund_status"))
        batch_op.drop_column("updated_at")
        batch_op.drop_column("failure_message")
        batch_op.drop_column("status")
