"""A localstripe process for the module, and the app pointed at it (settings are read at call time)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from store.config import Settings
from tests.fakes.localstripe import running_localstripe
from tests.store.donation.stripe_env import app_uses_localstripe


@pytest.fixture(scope="module")
def localstripe_url() -> Iterator[str]:
    with running_localstripe() as base_url:
        yield base_url


@pytest.fixture
def stripe_env(localstripe_url: str) -> Iterator[Settings]:
    with app_uses_localstripe(localstripe_url) as settings:
        yield settings


@pytest.fixture
def app(engine, stripe_env):  # type: ignore[no-untyped-def]
    from store.app import create_app

    return create_app(stripe_env)
