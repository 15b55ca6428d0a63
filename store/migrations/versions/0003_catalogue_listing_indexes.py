"""catalogue: listing indexes for constant-cost shop pages

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 06:50:00
"""
from typing import Sequence, Union

from alembic import op

revision: str = "0003"
down_revision: Union[str, Sequence[str], None] = "0002"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

INDEXES = [
    ("product", "ix_product_list_position", ["is_published", "position", "id"]),
    ("product", "ix_product_list_price", ["is_published", "price", "id"]),
    ("product", "ix_product_list_coll_position", ["collection_id", "is_published", "position", "id"]),
    ("product", "ix_product_list_coll_price", ["collection_id", "is_published", "price", "id"]),
    ("product", "ix_product_list_coll_newest", ["collection_id", "is_published", "id"]),
    ("variant", "ix_variant_order", ["product_id", "position", "id"]),
    ("product_image", "ix_product_image_order", ["product_id", "position", "id"]),
]


def upgrade() -> None:
    for table, name, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for table, name, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
