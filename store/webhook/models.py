from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from store.timeutil import utcnow


class InboundEvent(SQLModel, table=True):
    """Every verified webhook, once: UNIQUE(source, external_id) makes a redelivery a no-op."""

    __tablename__ = "inbound_event"
    __table_args__ = (UniqueConstraint("source", "external_id"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=20)  # "stripe" | "printful"
    external_id: str = Field(max_length=128)  # Stripe's event id; for Printful a SHA-256 of the body
    type: str = Field(max_length=80)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    received_at: datetime = Field(default_factory=utcnow)
    processed_at: datetime | None = None
    error: str = ""
    attempts: int = 0
