"""What running the site costs, per month and category, as the owner enters it."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from store.timeutil import utcnow

# The seed page's own list, in its order: key -> what readers see.
COST_CATEGORIES: dict[str, str] = {
    "hosting": "Hosting services",
    "subscriptions": "Website subscriptions and services",
    "photo_media": "Photo media subscriptions",
    "newswire": "Newswire services",
    "marketing": "Marketing",
}


class MonthlyCost(SQLModel, table=True):
    __tablename__ = "funding_cost"
    __table_args__ = (UniqueConstraint("month", "category"),)

    id: int | None = Field(default=None, primary_key=True)
    month: date = Field(index=True)  # always the 1st of the month
    category: str = Field(max_length=40)
    amount: int = Field(default=0, ge=0)  # pence
    currency: str = Field(default="GBP", max_length=3)
    updated_by: str = Field(default="", max_length=254)
    updated_at: datetime = Field(default_factory=utcnow)
