"""cart and checkout: carts, cart lines, shipping zones, discount codes and their uses, payment attempts

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-26 06:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cart",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("discount_code", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("round_up", sa.Boolean(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("cart", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cart_token"), ["token"], unique=True)
        batch_op.create_index(batch_op.f("ix_cart_order_id"), ["order_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_cart_updated_at"), ["updated_at"], unique=False)

    op.create_table(
        "cart_line",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cart_id", sa.Integer(), nullable=False),
        sa.Column("sku", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["cart_id"], ["cart.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("cart_id", "sku"),
    )
    with op.batch_alter_table("cart_line", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cart_line_cart_id"), ["cart_id"], unique=False)

    op.create_table(
        "shipping_zone",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("rate", sa.Integer(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )

    op.create_table(
        "discount",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("percent_off", sa.Integer(), nullable=True),
        sa.Column("amount_off", sa.Integer(), nullable=True),
        sa.Column("min_spend", sa.Integer(), nullable=False),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("usage_limit", sa.Integer(), nullable=True),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("discount", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_discount_code"), ["code"], unique=True)

    op.create_table(
        "discount_use",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("discount_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["discount_id"], ["discount.id"]),
        sa.ForeignKeyConstraint(["order_id"], ["shop_order.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("order_id"),
    )
    with op.batch_alter_table("discount_use", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_discount_use_discount_id"), ["discount_id"], unique=False)

    op.create_table(
        "checkout_payment_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("payment_method", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("payment_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["shop_order.id"]),
        sa.ForeignKeyConstraint(["payment_id"], ["payment.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("order_id", "attempt"),
        sa.UniqueConstraint("payment_method"),
    )
    with op.batch_alter_table("checkout_payment_attempt", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_checkout_payment_attempt_order_id"), ["order_id"], unique=False)


def downgrade() -> None:
    op.drop_table("checkout_payment_attempt")
    op.drop_table("discount_use")
    op.drop_table("discount")
    op.drop_table("shipping_zone")
    op.drop_table("cart_line")
    op.drop_table("cart")
