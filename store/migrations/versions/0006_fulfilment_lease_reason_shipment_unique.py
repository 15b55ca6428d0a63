"""fulfilment: submission lease, provider reason and status; one shipment row per tracking number

Revision ID: 0006
Revises: 0002
Create Date: 2026-11-26 06:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("fulfilment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lease_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(
            sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column(
                "provider_status",
                sqlmodel.sql.sqltypes.AutoString(length=20),
                nullable=False,
                server_default="",
            )
        )
    with op.batch_alter_table("shipment", schema=None) as batch_op:
        batch_op.create_index("uq_shipment_order_tracking", ["order_id", "tracking_number"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("shipment", schema=None) as batch_op:
        batch_op.drop_index("uq_shipment_order_tracking")
    with op.batch_alter_table("fulfilment", schema=None) as batch_op:
        batch_op.drop_column("provider_status")
        batch_op.drop_column("reason")
        batch_op.drop_column("lease_until")
