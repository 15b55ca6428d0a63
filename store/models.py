"""Every table, imported in one place so Alembic and tests see the whole schema."""

from store.registry import domain_modules

MODEL_MODULES = domain_modules("models")
