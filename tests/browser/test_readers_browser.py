"""Readers in headless Chromium: newsletter sign-up from the seed article confirmed from the email's
link (the .eml in the outbox), and a £5 one-off donation with the localstripe card element."""

from __future__ import annotations

import email
import re
from datetime import timedelta
from email import policy
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from store.config import get_settings
from store.demo.articles import LAUNCH_BODY, LAUNCH_SLUG, LAUNCH_TITLE
from store.donation.models import Donation, DonationPayment
from store.newsletter.models import Subscriber
from store.timeutil import utcnow
from tests.fakes.localstripe import CARD_SUCCEEDS

# The app (and its CSP) talks to this module's localstripe in every test.
pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("stripe_env")]


@pytest.fixture
def seed_article(db):  # type: ignore[no-untyped-def]
    from store.news.models import Article

    db.add(
        Article(
            slug=LAUNCH_SLUG,
            title=LAUNCH_TITLE,
            body_md=LAUNCH_BODY,
            published_at=utcnow() - timedelta(hours=1),
        )
    )
    db.commit()


def console_errors(page: Any) -> list[str]:
    """Script errors and failed requests (the site's icon included)."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console",
        lambda msg: (
            errors.append(msg.text)
            if msg.type == "error" and not msg.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.on(
        "response",
        lambda r: (
            errors.append(f"{r.status} {r.url}")
            if r.status >= 400
            else None
        ),
    )
    return errors


def test_reader_signs_up_from_the_seed_article_and_confirms_from_the_emails_link(
    page, live_server, db, seed_article
):
    errors = console_errors(page)
    page.goto(f"{live_server.url}/news/{LAUNCH_SLUG}")
    box = page.locator(".newsletter-box")
    box.get_by_label("Email").fill("browser.reader@example.org")
    box.get_by_label("Full name").fill("Browser Reader")
    box.get_by_role("button", name="Subscribe").click()
    page.wait_for_url(f"{live_server.url}/newsletter/check-your-email")
    assert page.get_by_role("heading", level=1).inner_text() == "Check your email"

    db.rollback()
    reader = db.exec(select(Subscriber).where(Subscriber.email == "browser.reader@example.org")).one()
    assert (reader.status, reader.source, reader.full_name) == (
        "pending",
        f"article:{LAUNCH_SLUG}",
        "Browser Reader",
    )
    eml = Path(get_settings().outbox_dir) / f"newsletter-confirm-{reader.id}-1.eml"
    message = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert message["To"] == "browser.reader@example.org"
    link = re.search(r"https?://\S+/newsletter/confirm/\S+", message.get_body(("plain",)).get_content())
    assert link is not None
    path = "/newsletter/confirm/" + link.group(0).split("/newsletter/confirm/", 1)[1]

    page.goto(live_server.url + path)

    assert page.get_by_role("heading", level=1).inner_text() == "You're subscribed"
    db.rollback()
    assert db.exec(select(Subscriber).where(Subscriber.id == reader.id)).one().status == "confirmed"
    assert errors == []


def fill_donor_and_card(page: Any) -> None:
    page.get_by_label("Email").fill("donor@example.org")
    page.get_by_label("Full name").fill("Dee Donor")
    page.get_by_placeholder("number").fill(CARD_SUCCEEDS)
    page.get_by_placeholder("exp_month").fill("12")
    page.get_by_placeholder("exp_year").fill("34")
    page.get_by_placeholder("cvc").fill("123")
    page.get_by_placeholder("postal_code").fill("SW1A 1AA")


def test_reader_donates_five_pounds_once(page, live_server, db, seed_article):
    errors = console_errors(page)
    page.goto(f"{live_server.url}/news/{LAUNCH_SLUG}")
    page.locator(".appeal-box").get_by_role("link", name="Donate").click()
    page.wait_for_url(f"{live_server.url}/donate?from={LAUNCH_SLUG}")
    assert page.get_by_role("status").first.inner_text().startswith("Test mode")

    page.get_by_role("link", name="£5", exact=True).click()
    assert page.get_by_label("Amount").input_value() == "5"
    assert page.get_by_label("One-off").is_checked()
    fill_donor_and_card(page)
    page.get_by_role("button", name="Donate").click()

    page.wait_for_url(re.compile(r".*/donate/thank-you/[A-Za-z0-9_-]+$"))
    assert page.get_by_role("heading", level=1).inner_text() == "Thank you, Dee Donor"
    db.rollback()
    [donation] = db.exec(select(Donation)).all()
    assert (donation.kind, donation.status, donation.amount, donation.email) == (
        "one_off",
        "succeeded",
        500,
        "donor@example.org",
    )
    assert donation.article_id is not None  # came from the seed article's appeal
    assert [p.amount for p in db.exec(select(DonationPayment)).all()] == [500]
    assert errors == []


def test_a_donation_over_the_maximum_is_refused_beside_amount(page, live_server, db, localstripe_url):
    from tests.fakes.localstripe import list_payment_intents

    before = len(list_payment_intents(localstripe_url))
    page.goto(f"{live_server.url}/donate")
    page.get_by_label("Amount").fill("1500")
    fill_donor_and_card(page)
    page.get_by_role("button", name="Donate").click()

    message = page.locator("#f-amount-error")
    message.wait_for()
    assert message.inner_text() == "The most we can take online in one go is £1,000."
    amount = page.get_by_label("Amount")
    assert amount.get_attribute("aria-invalid") == "true"
    assert amount.input_value() == "1500"
    assert page.get_by_role("button", name="Donate").is_enabled()
    # a corrected amount goes through, and the message goes away
    amount.fill("15")
    page.get_by_role("button", name="Donate").click()
    page.wait_for_url(re.compile(r".*/donate/thank-you/[A-Za-z0-9_-]+$"))
    db.rollback()
    assert [d.amount for d in db.exec(select(Donation)).all()] == [1500]
    assert len(list_payment_intents(localstripe_url)) == before + 1
