"""Behind a TLS proxy: X-Forwarded-Proto/-For are believed from STORE_TRUSTED_PROXIES only."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from store.auth.service import FAILED_PER_IP, limiter
from store.config import get_settings
from tests.conftest import get_csrf

SHOPPER = "198.51.100.7"
FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-For": f"{SHOPPER}, 127.0.0.1"}


def client_from(app, address: str) -> TestClient:  # type: ignore[no-untyped-def]
    return TestClient(app, client=(address, 40000), raise_server_exceptions=False)


def failed_login(client: TestClient, caplog: pytest.LogCaptureFixture) -> str:
    token = get_csrf(client)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="store.auth"):
        r = client.post(
            "/staff/login",
            data={"email": "nobody@example.org", "password": "wrong-password-here", "csrf_token": token},
            headers=FORWARDED,
        )
    assert r.status_code in (400, 422)
    [record] = [r for r in caplog.records if r.getMessage() == "staff login refused"]
    return str(record.ip)  # type: ignore[attr-defined]


def remaining_login_attempts(address: str) -> int:
    return int(limiter().get_window_stats(FAILED_PER_IP, "login-ip", address).remaining)


def test_trusted_proxy_gives_https_secure_cookies_and_the_real_address(app, caplog) -> None:  # type: ignore[no-untyped-def]
    proxy = client_from(app, "127.0.0.1")

    page = proxy.get("/staff/login", headers=FORWARDED)
    cookie = page.headers["set-cookie"]
    assert cookie.startswith("rrm_csrf=") and "; Secure" in cookie

    moved = proxy.get("/shop/", headers=FORWARDED, follow_redirects=False)
    assert moved.status_code == 307
    assert moved.headers["location"] == "https://testserver/shop"

    assert failed_login(proxy, caplog) == SHOPPER
    assert remaining_login_attempts(SHOPPER) == FAILED_PER_IP.amount - 1
    assert remaining_login_attempts("127.0.0.1") == FAILED_PER_IP.amount


def test_untrusted_peer_cannot_claim_https_or_another_address(app, caplog) -> None:  # type: ignore[no-untyped-def]
    stranger = client_from(app, "203.0.113.5")

    page = stranger.get("/staff/login", headers=FORWARDED)
    assert "secure" not in page.headers["set-cookie"].lower()

    moved = stranger.get("/shop/", headers=FORWARDED, follow_redirects=False)
    assert moved.headers["location"] == "http://testserver/shop"

    assert failed_login(stranger, caplog) == "203.0.113.5"
    assert remaining_login_attempts("203.0.113.5") == FAILED_PER_IP.amount - 1
    assert remaining_login_attempts(SHOPPER) == FAILED_PER_IP.amount


def test_trusted_proxies_accepts_a_network(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from store.app import create_app

    monkeypatch.setenv("STORE_TRUSTED_PROXIES", "10.0.0.0/8")
    get_settings.cache_clear()
    try:
        app = create_app(get_settings())
    finally:
        get_settings.cache_clear()
    moved = client_from(app, "10.1.2.3").get("/shop/", headers=FORWARDED, follow_redirects=False)
    assert moved.headers["location"] == "https://testserver/shop"
    # Loopback is no longer trusted once the setting names something else.
    moved = client_from(app, "127.0.0.1").get("/shop/", headers=FORWARDED, follow_redirects=False)
    assert moved.headers["location"] == "http://testserver/shop"
