"""/staff/discounts (catalogue and owner) and /staff/shipping (owner): forms, roles, nothing changes on 403."""

from __future__ import annotations

import pytest
from sqlmodel import select

from store.checkout.models import Discount, ShippingZone
from tests.conftest import csrf_from, soup


def discounts(db) -> list[Discount]:  # type: ignore[no-untyped-def]
    db.rollback()
    found = list(db.exec(select(Discount)).all())
    db.rollback()
    return found


def test_catalogue_staff_create_a_percent_code(client, db, login_as) -> None:  # type: ignore[no-untyped-def]
    login_as("catalogue")
    html = client.get("/staff/discounts").text
    page = soup(html)
    for label in ("Code", "Percent off", "Amount off", "Minimum spend", "Expires", "Usage limit"):
        assert page.find("label", string=label) is not None, label
    assert page.find("button", string="Save") is not None
    token = csrf_from(html)
    r = client.post(
        "/staff/discounts",
        data={
            "csrf_token": token,
            "code": " solidarity10 ",
            "kind": "percent",
            "percent_off": "10",
            "min_spend": "30.00",
            "expires": "2030-12-31",
            "usage_limit": "100",
        },
        follow_redirects=False,
    )
    assert (r.status_code, r.headers["location"]) == (303, "/staff/discounts")
    [d] = discounts(db)
    assert (d.code, d.percent_off, d.amount_off, d.min_spend, d.usage_limit, d.uses) == (
        "SOLIDARITY10",
        10,
        None,
        3000,
        100,
        0,
    )
    assert d.expires_at is not None and d.expires_at.date().isoformat() == "2030-12-31"


def test_amount_code_and_bad_input_is_422_with_values_kept(client, db, login_as) -> None:  # type: ignore[no-untyped-def]
    login_as("owner")
    token = csrf_from(client.get("/staff/discounts").text)
    bad = client.post(
        "/staff/discounts",
        data={
            "csrf_token": token,
            "code": "FIVER",
            "kind": "amount",
            "amount_off": "five",
            "usage_limit": "-3",
        },
    )
    assert bad.status_code == 422
    page = soup(bad.text)
    assert page.select_one("#f-amount_off-error") is not None
    assert page.select_one("#f-usage_limit-error").get_text() == (
        "Enter a whole number of uses, 1 or more, or leave it empty."
    )
    assert page.select_one("#f-code")["value"] == "FIVER"
    assert discounts(db) == []
    ok = client.post(
        "/staff/discounts",
        data={"csrf_token": token, "code": "FIVER", "kind": "amount", "amount_off": "5"},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    assert [(d.code, d.amount_off) for d in discounts(db)] == [("FIVER", 500)]


@pytest.mark.parametrize("role", ["editor", "fulfilment"])
def test_other_roles_get_403_on_discounts_and_nothing_changes(client, db, login_as, role: str) -> None:  # type: ignore[no-untyped-def]
    login_as(role)
    assert client.get("/staff/discounts").status_code == 403
    token = csrf_from(client.get("/staff").text)
    r = client.post("/staff/discounts", data={"csrf_token": token, "code": "X", "percent_off": "50"})
    assert r.status_code == 403
    assert discounts(db) == []


def test_owner_edits_shipping_rates(client, db, login_as) -> None:  # type: ignore[no-untyped-def]
    login_as("owner")
    html = client.get("/staff/shipping").text
    page = soup(html)
    assert [page.select_one(f"#f-rate_{z}")["value"] for z in ("uk", "europe", "world")] == [
        "3.99",
        "7.99",
        "12.99",
    ]
    token = csrf_from(html)
    r = client.post(
        "/staff/shipping",
        data={"csrf_token": token, "rate_uk": "4.50", "rate_europe": "8", "rate_world": "15.00"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    db.rollback()
    assert {z.code: z.rate for z in db.exec(select(ShippingZone)).all()} == {
        "uk": 450,
        "europe": 800,
        "world": 1500,
    }
    bad = client.post(
        "/staff/shipping",
        data={"csrf_token": token, "rate_uk": "lots", "rate_europe": "8", "rate_world": "15"},
    )
    assert bad.status_code == 422


@pytest.mark.parametrize("role", ["catalogue", "editor", "fulfilment"])
def test_only_the_owner_edits_shipping(client, db, login_as, role: str) -> None:  # type: ignore[no-untyped-def]
    login_as(role)
    assert client.get("/staff/shipping").status_code == 403
    token = csrf_from(client.get("/staff").text)
    r = client.post(
        "/staff/shipping", data={"csrf_token": token, "rate_uk": "0", "rate_europe": "0", "rate_world": "0"}
    )
    assert r.status_code == 403
    db.rollback()
    assert db.exec(select(ShippingZone)).all() == []
