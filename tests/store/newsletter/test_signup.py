"""Double opt-in, the same answer for known addresses, signed links, one-click unsubscribe, consent."""

from __future__ import annotations

import email
import re
from email import policy
from pathlib import Path

from bs4 import BeautifulSoup
from itsdangerous import URLSafeTimedSerializer
from sqlmodel import select

from store.config import get_settings
from store.mail.models import OutboundEmail
from store.newsletter import service
from store.newsletter.models import ConsentEvent, Subscriber
from tests.conftest import get_csrf

LINK_RE = re.compile(r"http://testserver(/newsletter/confirm/[^\s\"<]+)")


def sign_up(client, email_address: str, *, name: str = "", source: str = "newsletter-page"):  # type: ignore[no-untyped-def]
    token = get_csrf(client, "/newsletter")
    return client.post(
        "/newsletter",
        data={"email": email_address, "full_name": name, "source": source, "csrf_token": token},
        follow_redirects=False,
    )


def confirmation_emails(db) -> list[OutboundEmail]:  # type: ignore[no-untyped-def]
    db.rollback()  # a fresh snapshot: the app wrote through its own connection
    rows = db.exec(select(OutboundEmail).where(OutboundEmail.key.startswith("newsletter-confirm-"))).all()  # type: ignore[attr-defined]
    return list(rows)


def subscriber(db, address: str) -> Subscriber:  # type: ignore[no-untyped-def]
    db.rollback()  # a fresh snapshot: the app wrote through its own connection
    found = db.exec(select(Subscriber).where(Subscriber.email == address)).one()
    return found


def rows(db, model):  # type: ignore[no-untyped-def]
    db.rollback()
    return list(db.exec(select(model).order_by(model.id)).all())


def answers_of(*responses):  # type: ignore[no-untyped-def]
    return [r for r in responses]


def confirm_path(mail: OutboundEmail) -> str:
    match = LINK_RE.search(mail.text)
    assert match, mail.text
    return match.group(1)


def test_subscribe_sends_one_confirmation_and_is_not_confirmed_until_the_link_is_used(client, db):
    # given a new reader; when they sign up from an article
    answer = sign_up(client, "  Reader@Example.org ", name="Rosa L", source="article:some-story")

    # then one confirmation email, the address still pending
    assert answer.status_code == 303
    assert answer.headers["location"] == "/newsletter/check-your-email"
    mails = confirmation_emails(db)
    assert [(m.to, m.subject) for m in mails] == [
        ("reader@example.org", "Please confirm your newsletter subscription")
    ]
    assert mails[0].sent_at is not None  # the job ran (huey immediate in tests)
    assert (subscriber(db, "reader@example.org").status, subscriber(db, "reader@example.org").source) == (
        "pending",
        "article:some-story",
    )

    # when the link is used
    page = client.get(confirm_path(mails[0]))

    # then confirmed, recorded, and the page says so
    assert page.status_code == 200
    assert BeautifulSoup(page.text, "html.parser").h1.get_text() == "You're subscribed"
    assert subscriber(db, "reader@example.org").status == "confirmed"
    events = rows(db, ConsentEvent)
    assert [(e.action, e.source, e.email) for e in events] == [
        ("subscribe", "article:some-story", "reader@example.org"),
        ("confirm", "email-link", "reader@example.org"),
    ]
    assert events[0].consent_text == service.CONSENT_TEXT
    # using the link twice is harmless
    assert client.get(confirm_path(mails[0])).status_code == 200
    assert len(rows(db, ConsentEvent)) == 2


def test_the_confirmation_eml_is_written_to_the_outbox(client, db):
    sign_up(client, "eml@example.org")
    files = list(Path(get_settings().outbox_dir).glob("newsletter-confirm-*.eml"))
    bodies = [email.message_from_bytes(f.read_bytes(), policy=policy.default) for f in files]
    mine = [b for b in bodies if b["To"] == "eml@example.org"]
    assert len(mine) == 1
    assert "/newsletter/confirm/" in mine[0].get_body(("plain",)).get_content()


def test_subscribing_an_existing_address_answers_exactly_as_for_a_new_one(client, db):
    # given one confirmed and one pending address
    sign_up(client, "confirmed@example.org")
    client.get(confirm_path(confirmation_emails(db)[0]))
    sign_up(client, "pending@example.org")
    assert len(confirmation_emails(db)) == 2

    # when a new address and both known addresses sign up
    fresh = sign_up(client, "new@example.org")
    again_confirmed = sign_up(client, "confirmed@example.org")
    again_pending = sign_up(client, "pending@example.org")

    # then the answers are identical, and so are the pages they lead to
    answers = [(r.status_code, r.headers["location"]) for r in (fresh, again_confirmed, again_pending)]
    assert answers == [(303, "/newsletter/check-your-email")] * 3
    pages = {
        str(BeautifulSoup(client.get(r.headers["location"]).text, "html.parser").main)
        for r in answers_of(fresh, again_confirmed, again_pending)
    }
    assert len(pages) == 1
    # no second row; the confirmed reader gets no confusing email; the pending one gets a fresh link
    assert len(rows(db, Subscriber)) == 3
    assert sorted(m.to for m in confirmation_emails(db)) == [
        "confirmed@example.org",
        "new@example.org",
        "pending@example.org",
        "pending@example.org",
    ]
    assert subscriber(db, "confirmed@example.org").status == "confirmed"


def test_an_altered_token_is_refused(client, db):
    sign_up(client, "alter@example.org")
    path = confirm_path(confirmation_emails(db)[0])
    altered = path[:-2] + ("AA" if not path.endswith("AA") else "BB")

    page = client.get(altered)

    assert page.status_code == 400
    assert "isn't valid" in BeautifulSoup(page.text, "html.parser").select_one("p.error").get_text()
    assert subscriber(db, "alter@example.org").status == "pending"


def test_a_token_signed_with_another_purpose_is_refused(client, db):
    sign_up(client, "salt@example.org")
    found = subscriber(db, "salt@example.org")
    wrong = URLSafeTimedSerializer(get_settings().secret_key, salt="csrf").dumps(
        {"s": found.id, "e": found.email}
    )

    assert client.get(f"/newsletter/confirm/{wrong}").status_code == 400
    assert subscriber(db, "salt@example.org").status == "pending"


def test_an_expired_token_is_refused(client, db, monkeypatch):
    sign_up(client, "late@example.org")
    path = confirm_path(confirmation_emails(db)[0])
    monkeypatch.setattr(service, "CONFIRM_MAX_AGE", -1)  # every token is now older than allowed

    page = client.get(path)

    assert page.status_code == 400
    assert "expired" in BeautifulSoup(page.text, "html.parser").select_one("p.error").get_text()
    assert subscriber(db, "late@example.org").status == "pending"


def _confirmed(client, db, address: str) -> Subscriber:  # type: ignore[no-untyped-def]
    sign_up(client, address)
    mail = [m for m in confirmation_emails(db) if m.to == address][-1]
    client.get(confirm_path(mail))
    return subscriber(db, address)


def test_one_click_unsubscribe_by_get_is_recorded(client, db):
    found = _confirmed(client, db, "get@example.org")
    token = service.unsubscribe_token(found)

    page = client.get(f"/newsletter/unsubscribe/{token}")

    assert page.status_code == 200
    assert BeautifulSoup(page.text, "html.parser").h1.get_text() == "You're unsubscribed"
    assert subscriber(db, "get@example.org").status == "unsubscribed"
    actions = [(e.action, e.source) for e in service.consent_history(db, "get@example.org")]
    assert actions == [
        ("subscribe", "newsletter-page"),
        ("confirm", "email-link"),
        ("unsubscribe", "email-link"),
    ]


def test_one_click_unsubscribe_by_post_without_cookies_or_csrf(app, db, client):
    from fastapi.testclient import TestClient

    found = _confirmed(client, db, "post@example.org")
    token = service.unsubscribe_token(found)
    with TestClient(app) as mail_client:  # a mail provider: no cookies, no CSRF token
        answer = mail_client.post(f"/newsletter/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
        again = mail_client.post(f"/newsletter/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})

    assert (answer.status_code, again.status_code) == (200, 200)
    assert subscriber(db, "post@example.org").status == "unsubscribed"
    actions = [(e.action, e.source) for e in service.consent_history(db, "post@example.org")]
    assert actions[-1] == ("unsubscribe", "one-click")
    assert [a for a, _ in actions].count("unsubscribe") == 1


def test_an_altered_unsubscribe_token_is_refused(client, db):
    found = _confirmed(client, db, "keep@example.org")
    token = service.unsubscribe_token(found)

    answer = client.post(f"/newsletter/unsubscribe/{token}x")

    assert answer.status_code == 400
    assert subscriber(db, "keep@example.org").status == "confirmed"


def test_an_old_confirmation_link_does_not_resubscribe_after_unsubscribing(client, db):
    sign_up(client, "gone@example.org")
    path = confirm_path(confirmation_emails(db)[0])
    client.get(path)
    client.get(f"/newsletter/unsubscribe/{service.unsubscribe_token(subscriber(db, 'gone@example.org'))}")

    assert client.get(path).status_code == 400
    assert subscriber(db, "gone@example.org").status == "unsubscribed"


def test_bad_email_re_renders_the_form_with_the_error_beside_the_field(client, db):
    answer = sign_up(client, "not-an-address", name="Keep Me")

    assert answer.status_code == 422
    soup = BeautifulSoup(answer.text, "html.parser")
    assert soup.select_one("#f-email-error").get_text() == "Enter an email address like name@example.com"
    assert soup.select_one("#f-email")["value"] == "not-an-address"
    assert soup.select_one("#f-full_name")["value"] == "Keep Me"
    assert rows(db, Subscriber) == []


def test_sign_ups_are_rate_limited_per_ip(client, db):
    for n in range(20):
        assert sign_up(client, f"r{n}@example.org").status_code == 303

    answer = sign_up(client, "one-too-many@example.org")

    assert answer.status_code == 429
    assert len(rows(db, Subscriber)) == 20


def test_the_newsletter_page_has_the_contract_labels(client):
    soup = BeautifulSoup(client.get("/newsletter").text, "html.parser")
    labels = [label.get_text(strip=True) for label in soup.select("main form label")]
    assert labels == ["Email", "Full name"]
    assert soup.select_one("main form button").get_text() == "Subscribe"
    assert soup.select_one("#consent-text").get_text() == service.CONSENT_TEXT


def test_addresses_are_checked_as_mail_servers_would(client, db):
    # an apostrophe is a real address; doubled dots, a display name and reserved domains are not
    assert sign_up(client, "O'Brien@Example.org").status_code == 303
    assert subscriber(db, "o'brien@example.org").status == "pending"
    for bad in ("ada..lovelace@example.org", "Ada <ada@example.org>", "ada@example.test", "ada@localhost"):
        answer = sign_up(client, bad)
        assert answer.status_code == 422, bad
        error = BeautifulSoup(answer.text, "html.parser").select_one("#f-email-error")
        assert error.get_text() == "Enter an email address like name@example.com"
    assert [s.email for s in rows(db, Subscriber)] == ["o'brien@example.org"]
