"""One-off and monthly donations against localstripe: through /donate, into staff and /funding."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from bs4 import BeautifulSoup
from sqlmodel import select

from store.donation import payments, service
from store.donation.models import Donation, DonationPayment
from store.mail.models import OutboundEmail
from store.money import Money
from tests.factories import donate, open_form
from tests.fakes.localstripe import CARD_DECLINED, CARD_SUCCEEDS, get_object, list_payment_intents

# The app talks to this module's localstripe in every test.
pytestmark = pytest.mark.usefixtures("stripe_env")


def rows(db, model):  # type: ignore[no-untyped-def]
    db.rollback()  # a fresh snapshot: the app wrote through its own connection
    return list(db.exec(select(model).order_by(model.id)).all())


def cells(html: str, selector: str) -> list[list[str]]:
    soup = BeautifulSoup(html, "html.parser")
    return [[c.get_text(" ", strip=True) for c in tr.select("th, td")] for tr in soup.select(selector)]


def test_a_one_off_donation_succeeds_and_appears_in_staff_and_on_funding(
    client, db, localstripe_url, login_as
):
    # when a reader gives £5 once
    answer = donate(client, localstripe_url, amount="5", card=CARD_SUCCEEDS)

    # then paid at Stripe, recorded once, thanked once
    assert answer["status_code"] == 200
    assert answer["json"] == {"status": "succeeded", "redirect": f"/donate/thank-you/{answer['reference']}"}
    [donation] = rows(db, Donation)
    assert (donation.kind, donation.status, donation.amount, donation.attempts) == (
        "one_off",
        "succeeded",
        500,
        1,
    )
    intent = get_object(localstripe_url, f"/v1/payment_intents/{donation.intent_id}")
    assert (intent["status"], intent["amount"], intent["metadata"]) == (
        "succeeded",
        500,
        {"kind": "donation", "donation": donation.reference},
    )
    assert [(p.external_id, p.amount) for p in rows(db, DonationPayment)] == [(donation.intent_id, 500)]
    thanks = [m for m in rows(db, OutboundEmail) if m.key == f"donation-{donation.reference}-thanks"]
    assert [(m.to, m.subject) for m in thanks] == [
        ("donor@example.org", "Thank you for supporting Red Revolution Media")
    ]
    page = client.get(answer["json"]["redirect"])
    assert BeautifulSoup(page.text, "html.parser").h1.get_text() == "Thank you, Dora Donor"

    # and /funding counts it this month
    funding = client.get("/funding")
    assert cells(funding.text, "#income-table tbody tr")[0] == ["One-off donations", "£5.00"]
    # and the owner sees it
    login_as("owner")
    staff = client.get("/staff/donations")
    assert staff.status_code == 200
    assert [row[1:6] for row in cells(staff.text, "#donations tbody tr")] == [
        ["Dora Donor", "donor@example.org", "One-off", "£5.00", "succeeded"]
    ]


def test_a_monthly_donation_succeeds_appears_in_staff_and_funding_and_can_be_cancelled(
    client, db, localstripe_url, login_as
):
    answer = donate(
        client, localstripe_url, amount="10", frequency="monthly", card=CARD_SUCCEEDS, full_name="Mo Nthly"
    )

    assert answer["json"]["status"] == "succeeded"
    [donation] = rows(db, Donation)
    assert (donation.kind, donation.status, donation.amount) == ("monthly", "active", 1000)
    subscription = get_object(localstripe_url, f"/v1/subscriptions/{donation.subscription_id}")
    assert (subscription["status"], subscription["items"]["data"][0]["plan"]["amount"]) == ("active", 1000)
    today = datetime.now(UTC).date().isoformat()
    assert [(p.external_id, p.amount) for p in rows(db, DonationPayment)] == [
        (f"{donation.subscription_id}:{today}", 1000)
    ]
    assert cells(client.get("/funding").text, "#income-table tbody tr")[1] == ["Monthly supporters", "£10.00"]

    login_as("owner")
    staff = client.get("/staff/donations")
    assert [row[:3] for row in cells(staff.text, "#supporters tbody tr")] == [
        ["Mo Nthly", "donor@example.org", "£10.00"]
    ]

    # the thank-you email carries a signed link to manage it; cancelling stops it at Stripe
    [mail] = [m for m in rows(db, OutboundEmail) if m.key == f"donation-{donation.reference}-thanks"]
    manage = re.search(r"http://testserver(/donate/manage/\S+)", mail.text)
    assert manage is not None
    page = client.get(manage.group(1))
    soup = BeautifulSoup(page.text, "html.parser")
    button = soup.find("button", string="Cancel monthly support")
    assert button is not None
    form = button.find_parent("form")
    cancelled = client.post(
        form["action"],
        data={"csrf_token": form.select_one("[name=csrf_token]")["value"]},
        follow_redirects=False,
    )
    assert cancelled.status_code == 303
    assert rows(db, Donation)[0].status == "cancelled"
    assert (
        get_object(localstripe_url, f"/v1/subscriptions/{donation.subscription_id}")["status"] == "canceled"
    )
    assert (
        client.get("/staff/donations").text.count("Mo Nthly") == 1
    )  # listed as a donation, no longer a supporter


def test_a_declined_card_then_a_good_one_pays_once_with_a_new_key(client, db, localstripe_url):
    fields = open_form(client)
    declined = donate(client, localstripe_url, amount="7.50", card=CARD_DECLINED, fields=fields)
    assert declined["json"] == {
        "status": "failed",
        "message": "Your card was declined. Please try another card or contact your bank.",
    }
    assert rows(db, Donation)[0].status == "failed"

    paid = donate(client, localstripe_url, amount="7.50", card=CARD_SUCCEEDS, fields=fields)

    assert paid["json"]["status"] == "succeeded"
    [donation] = rows(db, Donation)
    assert (donation.status, donation.attempts, donation.idempotency_key) == (
        "succeeded",
        2,
        f"donation-{donation.reference}-2",
    )
    assert sum(p.amount for p in rows(db, DonationPayment)) == 750
    # submitting the same form again charges nothing more
    again = donate(client, localstripe_url, amount="7.50", card=CARD_SUCCEEDS, fields=fields)
    assert again["json"]["status"] == "succeeded"
    mine = [
        i
        for i in list_payment_intents(localstripe_url)
        if i["metadata"].get("donation") == donation.reference
    ]
    assert sorted(i["status"] for i in mine) == ["requires_payment_method", "succeeded"]


def test_amounts_outside_one_to_a_thousand_pounds_are_refused_before_stripe(client, db, localstripe_url):
    intents_before = len(list_payment_intents(localstripe_url))
    fields = open_form(client)
    headers = {"X-CSRF-Token": fields["csrf_token"], "Accept": "application/json"}
    base = fields | {"frequency": "one_off", "email": "a@example.org", "full_name": "A B"}
    for path in ("/donate/card/setup", "/donate/card/pay"):
        answers = {
            amount: client.post(path, data=base | {"amount": amount, "payment_method": "pm_x"}, headers=headers)
            for amount in ("0.99", "0", "1000.01", "10000", "5.555", "lots")
        }
        assert {a: (r.status_code, r.json()) for a, r in answers.items()} == {
            "0.99": (422, {"message": "The smallest donation we can take is £1.", "field": "amount"}),
            "0": (422, {"message": "The smallest donation we can take is £1.", "field": "amount"}),
            "1000.01": (422, {"message": "The most we can take online in one go is £1,000.", "field": "amount"}),
            "10000": (422, {"message": "The most we can take online in one go is £1,000.", "field": "amount"}),
            "5.555": (422, {"message": "Enter an amount in pounds, like 5 or 12.50", "field": "amount"}),
            "lots": (422, {"message": "Enter an amount in pounds, like 5 or 12.50", "field": "amount"}),
        }, path
    for amount in ("1", "1000"):
        assert client.post("/donate/card/setup", data=base | {"amount": amount}, headers=headers).status_code == 200
    assert rows(db, Donation) == []
    assert len(list_payment_intents(localstripe_url)) == intents_before


def test_the_webhook_path_records_each_payment_once(client, db, localstripe_url):
    answer = donate(client, localstripe_url, amount="12", frequency="monthly", card=CARD_SUCCEEDS)
    one_off = donate(client, localstripe_url, amount="3", card=CARD_SUCCEEDS)
    assert (answer["json"]["status"], one_off["json"]["status"]) == ("succeeded", "succeeded")
    monthly, single = rows(db, Donation)
    now = datetime.now(UTC)
    intent_event = {
        "type": "payment_intent.succeeded",
        "data": {
            "object": {
                "id": single.intent_id,
                "amount": 300,
                "metadata": {"kind": "donation", "donation": single.reference},
            }
        },
    }
    first_invoice = {
        "type": "invoice.payment_succeeded",
        "data": {
            "object": {
                "subscription": monthly.subscription_id,
                "amount_paid": 1200,
                "created": int(now.timestamp()),
            }
        },
    }
    renewal = {
        "type": "invoice.payment_succeeded",
        "data": {
            "object": {
                "subscription": monthly.subscription_id,
                "amount_paid": 1200,
                "created": int((now + timedelta(days=31)).timestamp()),
            }
        },
    }
    order_event = {
        "type": "payment_intent.succeeded",
        "data": {"object": {"id": "pi_x", "amount": 1, "metadata": {"order": "RR1"}}},
    }

    handled = [
        service.handle_stripe_event(db, e)
        for e in (intent_event, intent_event, first_invoice, renewal, renewal, order_event)
    ]
    db.commit()

    assert handled == [True, True, True, True, True, False]
    payments = rows(db, DonationPayment)
    assert sorted(p.amount for p in payments) == [300, 1200, 1200]
    assert len(rows(db, OutboundEmail)) == 2  # one thank-you each, not one per payment


def test_donor_addresses_are_checked_as_mail_servers_would(client, db, localstripe_url):
    fields = open_form(client)
    headers = {"X-CSRF-Token": fields["csrf_token"]}
    base = fields | {"frequency": "one_off", "amount": "5", "full_name": "A B"}
    answers = {
        address: client.post("/donate/card/setup", data=base | {"email": address}, headers=headers)
        for address in ("o'brien@example.org", "ada..lovelace@example.org", "Ada <a@example.org>", "a@b.test")
    }
    refused = (422, "email", "Enter an email address like name@example.com")
    assert {a: (r.status_code, r.json().get("field"), r.json().get("message")) for a, r in answers.items()} == {
        "o'brien@example.org": (200, None, None),
        "ada..lovelace@example.org": refused,
        "Ada <a@example.org>": refused,
        "a@b.test": refused,
    }
    assert answers["o'brien@example.org"].json()["client_secret"].startswith("seti_")


def test_a_donation_from_an_article_is_attributed_to_it(client, db, localstripe_url, login_as):
    from store.news.models import Article
    from store.timeutil import utcnow

    db.add(Article(slug="the-story", title="The story", published_at=utcnow() - timedelta(hours=1)))
    db.commit()
    article_page = BeautifulSoup(client.get("/news/the-story").text, "html.parser")
    assert article_page.select_one(".appeal-box a.button")["href"] == "/donate?from=the-story"

    answer = donate(client, localstripe_url, amount="25", card=CARD_SUCCEEDS, path="/donate?from=the-story")

    assert answer["json"]["status"] == "succeeded"
    [donation] = rows(db, Donation)
    assert donation.article_id == rows(db, Article)[0].id
    login_as("editor")
    page = client.get("/staff/attribution")
    assert page.status_code == 200
    assert cells(page.text, "#attribution tbody tr") == [
        ["The story", "0", "£0.00", "£0.00", "£0.00", "1", "£25.00"]
    ]


def test_staff_donations_is_for_the_owner_only(client, login_as):
    login_as("editor")
    assert client.get("/staff/donations").status_code == 403


def test_the_donate_page_has_the_contract_labels(client, stripe_env):
    soup = BeautifulSoup(client.get("/donate").text, "html.parser")
    form = soup.select_one("form[data-card-payment]")
    labels = [label.get_text(strip=True) for label in form.select("label")]
    assert labels == ["One-off", "Monthly", "Amount", "Email", "Full name"]
    assert [a.get_text() for a in form.select(".shortcuts a")] == ["£5", "£10", "£25"]
    assert form.select_one("button[type=submit]").get_text().startswith("Donate")
    assert soup.select_one(".test-mode") is not None  # settings.stripe_is_local


def test_reconcile_finishes_a_donation_left_processing_without_a_second_charge(client, db, localstripe_url):
    from store.donation.reconcile import reconcile
    from tests.fakes.localstripe import make_payment_method

    # given an attempt that reached Stripe but whose answer was lost (the row still says processing)
    pm = make_payment_method(localstripe_url, CARD_SUCCEEDS)
    ref = "L" * 32
    attempt = payments.Attempt(
        reference=ref,
        kind="one_off",
        amount=Money(900),
        email="l@example.org",
        full_name="Lost Answer",
        idempotency_key=f"donation-{ref}-1",
        payment_method=pm,
    )
    charged = payments.charge(attempt)
    db.add(
        Donation(
            reference=ref,
            kind="one_off",
            status="processing",
            amount=900,
            email="l@example.org",
            full_name="Lost Answer",
            attempts=1,
            idempotency_key=f"donation-{ref}-1",
            payment_method=pm,
            updated_at=datetime.now(UTC) - timedelta(hours=1),
        )
    )
    db.commit()

    lines = list(reconcile(older_than_minutes=30))

    assert lines == [f"donation {ref[:12]}: processing -> succeeded"]
    [donation] = rows(db, Donation)
    assert (donation.status, donation.intent_id) == ("succeeded", charged.intent_id)
    assert [p.amount for p in rows(db, DonationPayment)] == [900]
    mine = [i for i in list_payment_intents(localstripe_url) if i["metadata"].get("donation") == ref]
    assert len(mine) == 1


def test_a_made_up_payment_method_is_bad_input_not_a_server_error(client, db, localstripe_url):
    # given: a filled-in donation form (issue 15 item 9)
    fields = open_form(client)
    form = fields | {"amount": "5", "frequency": "one_off", "email": "d@example.org", "full_name": "Dora"}
    headers = {"X-CSRF-Token": fields["csrf_token"]}

    # when: the page sends a pm_… Stripe has never heard of
    r = client.post(
        "/donate/card/pay", data=form | {"payment_method": "pm_madeUpByACardTester"}, headers=headers
    )

    # then: 422 with a message the page shows, nothing charged
    assert r.status_code == 422
    assert r.json() == {
        "message": "Your card details didn't come through. Please enter your card again.",
        "field": "card",
    }
    assert [d.status for d in rows(db, Donation)] == ["failed"]
    mine = [
        i
        for i in list_payment_intents(localstripe_url)
        if i["metadata"].get("donation") == fields["reference"]
    ]
    assert mine == []

    # and: a real card straight after pays once
    paid = donate(client, localstripe_url, amount="5", card=CARD_SUCCEEDS, fields=fields)
    assert paid["json"]["status"] == "succeeded"
    assert [d.status for d in rows(db, Donation)] == ["succeeded"]


def test_a_made_up_payment_method_for_monthly_support_is_bad_input(client, db, localstripe_url):
    fields = open_form(client)
    form = fields | {"amount": "5", "frequency": "monthly", "email": "m@example.org", "full_name": "Mo"}
    r = client.post(
        "/donate/card/pay",
        data=form | {"payment_method": "pm_madeUpByACardTester"},
        headers={"X-CSRF-Token": fields["csrf_token"]},
    )
    assert r.status_code == 422
    assert r.json()["message"] == "Your card details didn't come through. Please enter your card again."
    assert [d.status for d in rows(db, Donation)] == ["failed"]
