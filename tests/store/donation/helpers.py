"""Driving /donate like card-payment.js does: setup, a pm_… from localstripe, pay."""

from __future__ import annotations

from typing import Any

from bs4 import BeautifulSoup

from tests.fakes.localstripe import make_payment_method


def open_form(client: Any, path: str = "/donate") -> dict[str, str]:
    soup = BeautifulSoup(client.get(path).text, "html.parser")
    form = soup.select_one("form[data-card-payment]")
    assert form is not None
    fields = {i["name"]: i.get("value", "") for i in form.select("input[type=hidden]")}
    return fields


def donate(
    client: Any,
    localstripe_url: str,
    *,
    amount: str,
    frequency: str = "one_off",
    card: str,
    email: str = "donor@example.org",
    full_name: str = "Dora Donor",
    path: str = "/donate",
    fields: dict[str, str] | None = None,
) -> dict[str, Any]:
    hidden = fields or open_form(client, path)
    form = hidden | {"amount": amount, "frequency": frequency, "email": email, "full_name": full_name}
    headers = {"X-CSRF-Token": hidden["csrf_token"]}
    setup = client.post("/donate/card/setup", data=form, headers=headers)
    assert setup.status_code == 200, setup.text
    assert setup.json()["client_secret"].startswith("seti_")
    pm = make_payment_method(localstripe_url, card)
    answer = client.post("/donate/card/pay", data=form | {"payment_method": pm}, headers=headers)
    return {
        "status_code": answer.status_code,
        "json": answer.json(),
        "reference": hidden["reference"],
        "form": form,
    }
