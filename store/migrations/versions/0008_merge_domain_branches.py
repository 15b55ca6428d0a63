"""merge the domain branches (catalogue, checkout, orders, fulfilment, readers)

Revision ID: 0008
Revises: 0003, 0004, 0005, 0006, 0007
Create Date: 2026-11-26
"""
from typing import Sequence, Union

revision: str = "0008"
down_revision: Union[str, Sequence[str], None] = ("0003", "0004", "0005", "0006", "0007")
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
