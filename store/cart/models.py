"""A guest cart lives in the database; the browser only holds a signed reference to it (cart cookie).

Lines keep the SKU and the quantity, never a price: prices come from the catalogue every time.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from store.timeutil import utcnow

MAX_QUANTITY = 20  # per line


class Cart(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    token: str = Field(max_length=64, unique=True, index=True)  # what the signed cookie carries
    discount_code: str | None = Field(default=None, max_length=40)
    # The pending order made from this cart at "Continue to payment" (updated while still unpaid).
    order_id: int | None = Field(default=None, index=True)
    round_up: bool = False  # "Round up to the nearest pound for independent journalism"
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow, index=True)


class CartLine(SQLModel, table=True):
    __tablename__ = "cart_line"
    __table_args__ = (UniqueConstraint("cart_id", "sku"),)

    id: int | None = Field(default=None, primary_key=True)
    cart_id: int = Field(foreign_key="cart.id", index=True, ondelete="CASCADE")
    sku: str = Field(max_length=64)
    quantity: int = Field(ge=1, le=MAX_QUANTITY)
    article_id: int | None = None  # the story the shopper came from (attribution); no FK
    created_at: datetime = Field(default_factory=utcnow)
