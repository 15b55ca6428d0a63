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


def test_a_served_process_has_every_template_compiled_before_its_first_request(engine) -> None:  # type: ignore[no-untyped-def]
    # uvicorn's workers import store.asgi: after that, no page, fragment, email or feed is compiled
    # under load (Jinja2 lets every thread that asks compile the same template at once)
    import subprocess
    import sys

    probe = (
        "import jinja2, store.asgi\n"
        "from store.web import templates\n"
        "names = templates.env.list_templates()\n"
        "jinja2.Environment.compile = None  # any compile from here on would fail\n"
        "for name in names: templates.env.get_template(name)\n"
        "print(len(names), sorted({name.rsplit('.', 1)[1] for name in names}))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    count, kinds = done.stdout.split(" ", 1)
    assert int(count) >= 70 and kinds.strip() == "['html', 'txt', 'xml']"
