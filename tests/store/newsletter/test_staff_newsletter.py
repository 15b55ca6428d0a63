"""Editors compose an issue from articles and products and send it through the job queue to confirmed
subscribers only, once each, with one-click unsubscribe headers; subscribers export as CSV."""

from __future__ import annotations

import csv
import email
import io
from datetime import timedelta
from email import policy
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from sqlmodel import select

from store.config import get_settings
from store.mail.models import OutboundEmail
from store.newsletter import service, tasks
from store.newsletter.models import NewsletterDelivery, NewsletterIssue, Subscriber
from store.timeutil import utcnow
from tests.conftest import get_csrf


def rows(db, model):  # type: ignore[no-untyped-def]
    db.rollback()
    return list(db.exec(select(model).order_by(model.id)).all())


@pytest.fixture
def content(db):  # type: ignore[no-untyped-def]
    from catalog.models import Collection, Product
    from store.news.models import Article

    article = Article(
        slug="big-story",
        title="Big story",
        standfirst="What happened.",
        published_at=utcnow() - timedelta(hours=1),
    )
    draft = Article(slug="draft", title="Draft story")
    collection = Collection(slug="t-shirts", title="T-shirts")
    db.add_all([article, draft, collection])
    db.flush()
    tee = Product(
        slug="solidarity-tee",
        title="Solidarity tee",
        collection_id=collection.id,
        price=2500,
        is_published=True,
    )
    db.add(tee)
    for address, status in [
        ("a@example.org", "confirmed"),
        ("b@example.org", "confirmed"),
        ("p@example.org", "pending"),
        ("u@example.org", "unsubscribed"),
    ]:
        db.add(Subscriber(email=address, status=status, source="newsletter-page"))
    db.commit()
    return {"article": article.id, "draft": draft.id, "product": tee.id}


def compose(client, content, subject="This week") -> str:  # type: ignore[no-untyped-def]
    token = get_csrf(client, "/staff/newsletter/new")
    answer = client.post(
        "/staff/newsletter/new",
        data={
            "csrf_token": token,
            "subject": subject,
            "intro": "Hello readers.",
            "article_ids": [str(content["article"])],
            "product_ids": [str(content["product"])],
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return answer.headers["location"]


def test_an_editor_sends_an_issue_to_confirmed_subscribers_once_each(client, db, login_as, content):
    login_as("editor")
    issue_path = compose(client, content)
    page = BeautifulSoup(client.get(issue_path).text, "html.parser")
    send = page.find("button", string="Send to 2 confirmed subscribers")
    assert send is not None

    answer = client.post(
        f"{issue_path}/send", data={"csrf_token": get_csrf(client, issue_path)}, follow_redirects=False
    )
    again = client.post(
        f"{issue_path}/send", data={"csrf_token": get_csrf(client, issue_path)}, follow_redirects=False
    )

    assert (answer.status_code, again.status_code) == (303, 303)
    [issue] = rows(db, NewsletterIssue)
    assert issue.status == "sent"
    mails = [m for m in rows(db, OutboundEmail) if m.key.startswith(f"newsletter-{issue.id}-")]
    assert sorted((m.to, m.subject) for m in mails) == [
        ("a@example.org", "This week"),
        ("b@example.org", "This week"),
    ]
    assert all(m.sent_at is not None for m in mails)
    assert "Big story" in mails[0].text and "Solidarity tee: £25.00" in mails[0].text
    # progress and per-recipient status on the issue page
    soup = BeautifulSoup(client.get(issue_path).text, "html.parser")
    assert soup.select_one("[data-count=sent]").get_text() == "2"
    assert [
        (tr.select("td")[0].get_text(), tr.select("td")[1].get_text())
        for tr in soup.select("#progress tbody tr")
    ] == [
        ("a@example.org", "sent"),
        ("b@example.org", "sent"),
    ]
    # running the job again (a retry, a resumed send) mails nobody twice
    tasks.send_issue_now(issue.id)
    assert len([m for m in rows(db, OutboundEmail) if m.key.startswith(f"newsletter-{issue.id}-")]) == 2


def test_every_newsletter_email_has_one_click_unsubscribe_headers(client, db, login_as, content):
    login_as("editor")
    issue_path = compose(client, content, subject="Headers check")
    client.post(f"{issue_path}/send", data={"csrf_token": get_csrf(client, issue_path)})
    [issue] = rows(db, NewsletterIssue)
    a = next(s for s in rows(db, Subscriber) if s.email == "a@example.org")

    eml = Path(get_settings().outbox_dir) / f"newsletter-{issue.id}-{a.id}.eml"
    message = email.message_from_bytes(eml.read_bytes(), policy=policy.default)

    token = service.unsubscribe_token(a)
    # the header may be folded onto its own line (RFC 5322); unfolded, it is exactly the link
    assert message["List-Unsubscribe"].strip() == f"<http://testserver/newsletter/unsubscribe/{token}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # and the header's link works as a one-click POST
    assert (
        client.post(f"/newsletter/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"}).status_code
        == 200
    )
    assert next(s for s in rows(db, Subscriber) if s.email == "a@example.org").status == "unsubscribed"


def test_someone_who_unsubscribes_mid_send_is_skipped(db, content):
    issue = service.create_issue(
        db, form=service.IssueForm(subject="S", article_ids=[content["article"]]), staff_email="e@x.org"
    )
    db.commit()
    tasks_send = tasks.send_issue_now
    from store.jobs import huey

    huey.immediate = False  # hold the job: start the send, then unsubscribe b before it runs
    try:
        service.start_send(db, issue_id=issue.id)
        db.commit()
    finally:
        huey.immediate = True
    b = next(s for s in rows(db, Subscriber) if s.email == "b@example.org")
    service.unsubscribe(db, token=service.unsubscribe_token(b), source="email-link", ip="1.2.3.4")
    db.commit()

    tasks_send(issue.id)

    assert [(d.email, d.status) for d in rows(db, NewsletterDelivery)] == [
        ("a@example.org", "queued"),
        ("b@example.org", "skipped"),
    ]


def test_a_draft_needs_a_subject_and_something_to_send(client, db, login_as, content):
    login_as("editor")
    token = get_csrf(client, "/staff/newsletter/new")
    answer = client.post(
        "/staff/newsletter/new",
        data={"csrf_token": token, "subject": "", "article_ids": [str(content["draft"])]},
    )
    assert answer.status_code == 422
    soup = BeautifulSoup(answer.text, "html.parser")
    assert soup.select_one("#f-subject-error").get_text() == "Enter a subject"
    assert soup.select_one("#f-article_ids-error").get_text() == "Choose published articles only"
    assert rows(db, NewsletterIssue) == []


def test_subscribers_export_as_csv(client, db, login_as, content):
    db.add(Subscriber(email="=cmd@example.org", full_name="=HYPERLINK(1)", status="pending"))
    db.commit()
    login_as("editor")

    answer = client.get("/staff/newsletter/subscribers.csv")

    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    table = list(csv.reader(io.StringIO(answer.text)))
    assert table[0] == [
        "email",
        "full_name",
        "status",
        "source",
        "created_at",
        "confirmed_at",
        "unsubscribed_at",
    ]
    assert [(r[0], r[2]) for r in table[1:]] == [
        ("a@example.org", "confirmed"),
        ("b@example.org", "confirmed"),
        ("p@example.org", "pending"),
        ("u@example.org", "unsubscribed"),
        ("'=cmd@example.org", "pending"),
    ]
    assert table[5][1] == "'=HYPERLINK(1)"


@pytest.mark.parametrize("role", ["catalogue", "fulfilment"])
def test_other_roles_may_not_use_the_newsletter_desk(client, db, login_as, content, role):
    login_as(role)
    assert client.get("/staff/newsletter").status_code == 403
    assert client.get("/staff/newsletter/subscribers.csv").status_code == 403
    token = get_csrf(client, "/newsletter")
    answer = client.post(
        "/staff/newsletter/new",
        data={"csrf_token": token, "subject": "x", "article_ids": [str(content["article"])]},
    )
    assert answer.status_code == 403
    assert rows(db, NewsletterIssue) == []


def test_the_owner_may_use_the_newsletter_desk(client, login_as, content):
    login_as("owner")
    assert client.get("/staff/newsletter").status_code == 200


def test_an_issue_with_nobody_to_send_to_stays_a_draft(client, db, login_as, content):
    for s in rows(db, Subscriber):
        if s.status == "confirmed":
            s.status = "unsubscribed"
            db.add(s)
    db.commit()
    login_as("editor")
    issue_path = compose(client, content)

    answer = client.post(f"{issue_path}/send", data={"csrf_token": get_csrf(client, issue_path)})

    assert answer.status_code == 200
    assert BeautifulSoup(answer.text, "html.parser").select_one(".flash").get_text(strip=True) == (
        "There are no confirmed subscribers yet, so there is nobody to send this to."
    )
    assert [i.status for i in rows(db, NewsletterIssue)] == ["draft"]
