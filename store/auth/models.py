from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from store.timeutil import utcnow


class Role(StrEnum):
    owner = "owner"
    editor = "editor"
    catalogue = "catalogue"
    fulfilment = "fulfilment"


class StaffUser(SQLModel, table=True):
    __tablename__ = "staff_user"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, unique=True, index=True)
    password_hash: str = Field(max_length=255)
    role: str = Field(max_length=20)
    is_active: bool = True
    created_at: datetime = Field(default_factory=utcnow)

    def may(self, *roles: Role | str) -> bool:
        return self.is_active and (self.role == Role.owner or self.role in {str(r) for r in roles})


class StaffSession(SQLModel, table=True):
    """Server-side session: the cookie holds a random token, the table only its SHA-256."""

    __tablename__ = "staff_session"

    id: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="staff_user.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
