"""Issue 15.3 for /donate: £1 to STORE_DONATION_MAX_POUNDS (£1,000) with the message next to "Amount",
and card attempts throttled per donation and per network address (a decline counts double), 429
past the limit with nothing charged."""

from __future__ import annotations

from typing import Any

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from store.config import get_settings
from tests.factories import open_form
from tests.fakes.localstripe import CARD_DECLINED, CARD_SUCCEEDS, list_payment_intents, make_payment_method

pytestmark = pytest.mark.usefixtures("stripe_env")

JSON = {"Accept": "application/json"}


def donor_form(client: Any, amount: str = "5") -> dict[str, str]:
    return open_form(client) | {
        "frequency": "one_off",
        "amount": amount,
        "email": "donor@example.org",
        "full_name": "Dora Donor",
    }


def post(client: Any, path: str, form: dict[str, str], headers: dict[str, str] | None = None, **extra: str) -> Any:
    return client.post(
        path, data=form | extra, headers={"X-CSRF-Token": form["csrf_token"], **(headers or JSON)}
    )


def test_the_donate_page_says_the_range_and_a_refused_amount_is_shown_next_to_it(client) -> None:  # type: ignore[no-untyped-def]
    page = BeautifulSoup(client.get("/donate").text, "html.parser")
    assert page.select_one("#f-amount-hint").get_text().startswith("In pounds, from £1 to £1,000.")
    # without the script, the form posts to the pay address and gets the page back: 422, values kept
    form = donor_form(client, amount="1500") | {"frequency": "monthly"}
    r = post(client, "/donate/card/pay", form, headers={"Accept": "text/html"})
    assert r.status_code == 422
    page = BeautifulSoup(r.text, "html.parser")
    assert page.select_one("#f-amount-error").get_text(strip=True) == "The most we can take online in one go is £1,000."
    assert page.select_one("#f-amount")["aria-invalid"] == "true"
    assert page.select_one("#f-amount")["value"] == "1500"
    assert page.select_one("#f-email")["value"] == "donor@example.org"
    assert page.select_one("#f-full_name")["value"] == "Dora Donor"
    assert page.select_one("#f-monthly").has_attr("checked")
    assert page.select_one("input[name=reference]")["value"] == form["reference"]
    small = post(client, "/donate/card/setup", donor_form(client, amount="0.50"), headers={"Accept": "text/html"})
    assert small.status_code == 422
    error = BeautifulSoup(small.text, "html.parser").select_one("#f-amount-error")
    assert error.get_text(strip=True) == "The smallest donation we can take is £1."


def test_the_maximum_is_a_setting(client, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("STORE_DONATION_MAX_POUNDS", "250")
    get_settings.cache_clear()
    try:
        r = post(client, "/donate/card/setup", donor_form(client, amount="250.01"))
        assert (r.status_code, r.json()["message"]) == (422, "The most we can take online in one go is £250.")
        assert post(client, "/donate/card/setup", donor_form(client, amount="250")).status_code == 200
        hint = BeautifulSoup(client.get("/donate").text, "html.parser").select_one("#f-amount-hint")
        assert hint.get_text().startswith("In pounds, from £1 to £250.")
    finally:
        get_settings.cache_clear()


def assert_throttled(r: Any) -> None:
    assert r.status_code == 429, r.text
    assert 3500 <= int(r.headers["Retry-After"]) <= 3600
    assert r.json() == {
        "message": "Too many card attempts. Please try again in 60 minutes.",
        "retry_after": int(r.headers["Retry-After"]),
    }


def intents(url: str) -> int:
    return len(list_payment_intents(url))  # localstripe lives for the module: count, don't expect none


def test_the_attempt_past_the_donation_limit_is_429_and_charges_nothing(client, localstripe_url) -> None:  # type: ignore[no-untyped-def]
    before = intents(localstripe_url)
    form = donor_form(client)
    for _ in range(20):
        assert post(client, "/donate/card/setup", form).status_code == 200
    assert_throttled(post(client, "/donate/card/setup", form))
    pm = make_payment_method(localstripe_url, CARD_SUCCEEDS)
    assert_throttled(post(client, "/donate/card/pay", form, payment_method=pm))
    assert intents(localstripe_url) == before


def test_declined_donations_count_double(client, localstripe_url) -> None:  # type: ignore[no-untyped-def]
    before = intents(localstripe_url)
    form = donor_form(client)
    for _ in range(5):  # set-up, payment and decline: 3 each
        assert post(client, "/donate/card/setup", form).status_code == 200
        pm = make_payment_method(localstripe_url, CARD_DECLINED)
        assert post(client, "/donate/card/pay", form, payment_method=pm).json()["status"] == "failed"
    for _ in range(5):
        assert post(client, "/donate/card/setup", form).status_code == 200
    assert_throttled(post(client, "/donate/card/setup", form))
    assert intents(localstripe_url) == before + 5


@pytest.mark.parametrize("other_ip", [False, True])
def test_fresh_donation_forms_do_not_escape_the_address_limit(app, localstripe_url, other_ip) -> None:  # type: ignore[no-untyped-def]
    # a card tester reloads /donate for a new reference each time; the address still counts them all
    tester = TestClient(app, raise_server_exceptions=False, client=("203.0.113.9", 40000))
    for _ in range(50):
        assert post(tester, "/donate/card/setup", donor_form(tester)).status_code == 200
    someone = tester if not other_ip else TestClient(app, raise_server_exceptions=False, client=("198.51.100.4", 1))
    r = post(someone, "/donate/card/setup", donor_form(someone))
    if other_ip:
        assert r.status_code == 200
    else:
        assert_throttled(r)
