"""orders: index on paid_at for the dashboard's periods and the funding month

Revision ID: 0009_staff
Revises: 0008
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009_staff"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_shop_order_paid_at", "shop_order", ["paid_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_shop_order_paid_at", table_name="shop_order")
