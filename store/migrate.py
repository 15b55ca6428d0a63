"""Alembic, driven from code: `storefront migrate`, `serve`, and the tests use the same path."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from store.config import Settings, get_settings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(settings: Settings | None = None) -> Config:
    settings = settings or get_settings()
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", settings.database_url)
    return cfg


def upgrade(settings: Settings | None = None) -> None:
    # "heads": each domain may add its own branch of migrations.
    command.upgrade(alembic_config(settings), "heads")
