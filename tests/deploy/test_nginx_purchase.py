"""deploy/nginx.conf for real: Debian's nginx (self-signed certificate made here) in front of
`storefront serve`, and a shopper buying a shirt through it in headless Chromium."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import select

from store.config import get_settings
from store.order.models import Order
from tests.browser.test_checkout_browser import fill_card, to_payment, watch_errors
from tests.conftest import REQUIRE_BROWSER, free_port
from tests.deploy.nginx_site import NGINX, configure
from tests.factories import make_product
from tests.fakes.localstripe import (
    CARD_SUCCEEDS,
    TEST_PUBLISHABLE_KEY,
    TEST_SECRET_KEY,
    flush,
    running_localstripe,
)
from tests.store.ops.test_serve_process import SECRET_LINKS, start_serve, stop

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]

SHARED_SECONDS = 5  # how long nginx may answer visitors without cookies with a page's public copy
FROM_NGINX = {"HIT", "UPDATING", "STALE"}  # answered with its copy (the last two: while it renews it)
PRODUCT = "/shop/no-war-t-shirt"


def logged(log: Path, lines: list[str], within: float = 10.0) -> str:
    """nginx's access log once it has `lines` (or `within` seconds on): it writes a request's line
    after sending the answer, so the client can read the log before the last line is there."""
    deadline = time.monotonic() + within
    while True:
        text = log.read_text()
        if all(line in text for line in lines) or time.monotonic() > deadline:
            return text
        time.sleep(0.05)


def _need(tool: str) -> str:
    found = shutil.which(tool) or (tool if Path(tool).exists() else None)
    if found is None:
        if REQUIRE_BROWSER:  # CI: .ci/run installs it, so missing is a failure
            pytest.fail(f"{tool} is missing (.ci/run installs nginx and openssl)")
        pytest.skip(f"{tool} is not installed")
    return found


@pytest.fixture
def nginx_in_front(tmp_path: Path, db) -> Iterator[dict[str, Any]]:  # type: ignore[no-untyped-def]
    _need(NGINX)
    prefix = tmp_path / "nginx"
    media = Path(get_settings().media_dir)
    media.mkdir(parents=True, exist_ok=True)
    (media / "f00d-640.webp").write_bytes(b"not really an image")
    app_port, http_port, https_port = free_port(), free_port(), free_port()
    args = configure(
        prefix,
        app_port=app_port,
        http_port=http_port,
        https_port=https_port,
        media=media,
        openssl=_need("openssl"),
    )

    with running_localstripe() as stripe_url:
        flush(stripe_url)
        base = f"https://127.0.0.1:{https_port}"
        make_product(db, "No War t-shirt", price="25.00", sizes="S, M, L", colours="Black, White")
        serve_dir = tmp_path / "serve"
        serve_dir.mkdir()
        app, _app_url = start_serve(
            serve_dir,
            port=app_port,
            database_url=get_settings().database_url,
            media_dir=str(media),
            STORE_BASE_URL=base,
            STORE_STRIPE_SECRET_KEY=TEST_SECRET_KEY,
            STORE_STRIPE_PUBLISHABLE_KEY=TEST_PUBLISHABLE_KEY,
            STORE_STRIPE_API_BASE=stripe_url,
            STORE_STRIPE_JS_URL=f"{stripe_url}/js.stripe.com/v3/",
            STORE_SHARED_CACHE_SECONDS=str(SHARED_SECONDS),
        )
        proxy = subprocess.Popen([*args, "-g", "daemon off;"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            deadline = time.time() + 20
            while True:
                try:
                    if httpx.get(f"{base}/healthz", verify=False, timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert proxy.poll() is None, proxy.stderr.read() if proxy.stderr else ""
                assert time.time() < deadline, "nginx did not answer within 20 s"
                time.sleep(0.1)
            yield {
                "base": base,
                "http": f"http://127.0.0.1:{http_port}",
                "prefix": prefix,
                "app": app,
                "app_port": app_port,
            }
        finally:
            proxy.terminate()
            proxy.wait(timeout=10)
            out, err = stop(app)
            (tmp_path / "serve.log").write_text(err)


def test_nginx_terminates_tls_serves_files_and_limits_requests(nginx_in_front) -> None:  # type: ignore[no-untyped-def]
    base = nginx_in_front["base"]
    with httpx.Client(verify=False, timeout=10) as client:
        css = client.get(f"{base}/static/css/site.css")
        assert css.status_code == 200 and css.headers["server"] == "nginx"  # from disk, not the app
        assert css.headers["cache-control"] == "max-age=604800, public"
        photo = client.get(f"{base}/media/f00d-640.webp")
        assert (photo.status_code, photo.content) == (200, b"not really an image")
        assert photo.headers["cache-control"] == "max-age=31536000, public, immutable"
        assert photo.headers["content-type"] == "image/webp"

        page = client.get(f"{base}/staff/login")
        assert page.status_code == 200
        assert "; secure" in page.headers["set-cookie"].lower()  # the app knows it is behind https

        moved = client.get(f"{base}/shop/", follow_redirects=False)
        assert moved.headers["location"] == f"{base}/shop"  # absolute redirects keep https and the port

        too_big = client.post(f"{base}/cart/add", content=b"x" * (2 * 1024 * 1024))
        assert too_big.status_code == 413
        assert client.get(f"{base}/metrics").status_code == 404  # scraped on the app's own port only

        plain = httpx.get(f"{nginx_in_front['http']}/shop?page=2", follow_redirects=False)
        assert plain.status_code == 301 and plain.headers["location"] == "https://127.0.0.1/shop?page=2"


def _open_to(port: int) -> int:
    """Connections to 127.0.0.1:`port` open (ESTABLISHED) on the shop's side, from /proc/net/tcp."""
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(1 for line in lines if line.split()[1] == f"0100007F:{port:04X}" and line.split()[3] == "01")


def test_nginx_lets_an_idle_connection_to_the_shop_go_before_the_shop_does(nginx_in_front) -> None:  # type: ignore[no-untyped-def]
    # uvicorn closes a connection idle for 5 s. If nginx still held it, a request sent to it just then
    # failed, and nginx does not retry a POST: a 502 for an add to cart (1 in ~16 rushes, bench/rush.py).
    port = nginx_in_front["app_port"]
    assert httpx.get(f"{nginx_in_front['base']}/healthz", verify=False, timeout=10).status_code == 200
    answered = time.monotonic()
    assert _open_to(port) >= 1  # kept for the next request, as it should be
    while _open_to(port) and time.monotonic() - answered < 4.9:
        time.sleep(0.05)
    assert _open_to(port) == 0, "nginx still holds an idle connection the shop is about to close"


def test_nginx_answers_visitors_without_cookies_from_its_cache(nginx_in_front) -> None:  # type: ignore[no-untyped-def]
    base = nginx_in_front["base"]

    def visit(**cookies: str) -> httpx.Response:  # a new browser each time: no cookies kept
        return httpx.get(f"{base}{PRODUCT}", cookies=cookies, verify=False, timeout=10)

    first = visit()
    # nginx dates its copy from the shop's answer, which is in before `first` returns; the first
    # render of a fresh process can take over a second on a busy machine, so count from here
    made = time.monotonic()
    second, third = visit(), visit()
    assert first.headers["x-cache-status"] == "MISS"
    assert [second.headers["x-cache-status"], third.headers["x-cache-status"]] == ["HIT", "HIT"]
    assert first.content == second.content == third.content
    assert 'name="csrf_token" value=""' in third.text and "set-cookie" not in third.headers
    assert third.headers["cache-control"] == f"public, max-age=0, s-maxage={SHARED_SECONDS}"
    assert third.headers["content-security-policy"] == first.headers["content-security-policy"]

    # a visitor with any cookie gets a page of their own from the shop, never the shared copy
    own = visit(consent="yes")
    assert own.headers["x-cache-status"] == "BYPASS"
    assert own.headers["cache-control"] == "private, no-cache"
    assert own.headers["set-cookie"].startswith("rrm_csrf=")
    assert 'name="csrf_token" value=""' not in own.text
    # and what is not the same for everyone is never kept, cookie or not
    assert [visit().headers["x-cache-status"] for _ in range(2)] == ["HIT", "HIT"]
    cart = [httpx.get(f"{base}/cart", verify=False, timeout=10) for _ in range(2)]
    assert [c.headers["x-cache-status"] for c in cart] == ["MISS", "MISS"]

    # the copy lives no longer than the shop said: after it, the shop is asked again
    time.sleep(max(0.0, made + SHARED_SECONDS + 1 - time.monotonic()))
    assert visit().headers["x-cache-status"] in {"EXPIRED", "UPDATING", "STALE"}
    renewed = time.monotonic() + 10
    while visit().headers["x-cache-status"] != "HIT":  # the background renewal lands
        assert time.monotonic() < renewed, "nginx never renewed its copy"
        time.sleep(0.2)


def test_buy_a_shirt_through_nginx(nginx_in_front, _playwright_browser, db) -> None:  # type: ignore[no-untyped-def]
    base = nginx_in_front["base"]
    httpx.get(f"{base}{PRODUCT}", verify=False, timeout=10)  # another reader was there first
    context = _playwright_browser.new_context(locale="en-GB", ignore_https_errors=True)
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        errors = watch_errors(page)
        with page.expect_response(f"{base}{PRODUCT}") as product_page:
            page.goto(f"{base}{PRODUCT}")
        # The shopper's first page is nginx's shared copy, with no token in its form; no cookie yet
        assert product_page.value.headers["x-cache-status"] in FROM_NGINX
        token = page.locator("form[action='/cart/add'] input[name=csrf_token]").get_attribute("value")
        assert token == "" and context.cookies() == []
        # so the add to cart goes through on Chromium's word that it comes from our page (Sec-Fetch-
        # Site); from then on they have cookies, and pages of their own
        to_payment(page, base)
        fill_card(page, CARD_SUCCEEDS)
        page.get_by_role("button", name="Pay £53.99").click()
        page.wait_for_url(f"{base}/checkout/complete/*")
        heading = page.get_by_role("heading", level=1).inner_text()
        cookies = {c["name"]: c for c in context.cookies()}
    finally:
        context.close()
    db.rollback()
    order = db.exec(select(Order)).one()
    db.rollback()
    assert heading == f"Thank you for your order {order.number}"
    assert order.status in {"paid", "submitted"} and order.total == 5399
    assert errors == []
    assert cookies and all(c["secure"] for c in cookies.values()), cookies
    # every other link that is the only key to something, opened from a page whose address is one too
    for secret_path in SECRET_LINKS:
        referer = {"Referer": f"{base}/orders/s3cret-referer-link"}
        httpx.get(f"{base}{secret_path}", headers=referer, verify=False, timeout=10)
    wanted = [f"GET {masked} HTTP" for masked in SECRET_LINKS.values()]
    access = logged(Path(get_settings().media_dir).parent / "nginx-access.log", wanted)
    assert "POST /checkout/card/pay" in access
    # the thank-you page's link is the key to the order: logged as the page, never with its token
    assert "GET /checkout/complete/[token] HTTP" in access and order.token not in access
    for line in wanted:
        assert line in access
    assert f'"{base}/orders/[token]"' in access and "s3cret" not in access
