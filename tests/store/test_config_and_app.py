"""Settings rules and production hardening."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from store.config import Settings


@pytest.mark.no_db
@pytest.mark.parametrize("secret", ["dev-only-secret-key-change-me", "short"])
def test_production_refuses_default_or_short_secret(secret):
    with pytest.raises(ValidationError, match="STORE_SECRET_KEY"):
        Settings(env="production", secret_key=secret, stripe_secret_key="sk_live_x")


def test_production_serves_no_docs(engine):
    from store.app import create_app

    settings = Settings(
        env="production", secret_key="p" * 40, stripe_secret_key="sk_live_x",
        database_url=str(engine.url.render_as_string(hide_password=False)),
    )
    client = TestClient(create_app(settings))
    assert client.get("/docs").status_code == 404
    assert client.get("/openapi.json").status_code == 404


def test_dev_serves_docs(client):
    assert client.get("/docs").status_code == 200
