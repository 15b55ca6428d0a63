from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from store.timeutil import utcnow


class OutboundEmail(SQLModel, table=True):
    __tablename__ = "outbound_email"

    id: int | None = Field(default=None, primary_key=True)
    # One message per key, ever: "order-RRM123-confirmation", "shipment-42". A redelivered webhook
    # that tries to queue the same email again finds the key taken and sends nothing.
    key: str = Field(max_length=200, unique=True)
    to: str = Field(max_length=254)
    subject: str = Field(max_length=300)
    text: str
    html: str = ""
    headers: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = Field(default=None, index=True)
    attempts: int = 0
    last_error: str = ""
    # While one worker is handing the message to the SMTP server (outside any transaction), nobody
    # else sends it; a worker that dies mid-send loses the claim when this passes.
    claimed_until: datetime | None = None
