"""Staff login, sessions, roles, CSRF and throttling, through HTTP."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup
from sqlmodel import select

from store.auth.models import StaffSession
from tests.conftest import get_csrf

STAFF_GETS = ["/staff", "/staff/articles", "/staff/articles/new"]


def _login(client, email, password, token=None):
    token = token or get_csrf(client)
    return client.post(
        "/staff/login",
        data={"email": email, "password": password, "csrf_token": token},
        follow_redirects=False,
    )


@pytest.mark.parametrize("path", STAFF_GETS)
def test_anonymous_get_is_sent_to_login(client, path):
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/staff/login?next={path}"


def test_anonymous_post_is_refused_and_nothing_is_written(client, db):
    token = get_csrf(client)
    response = client.post(
        "/staff/articles/new", data={"title": "Sneaky", "body_md": "x", "csrf_token": token}, follow_redirects=False
    )
    assert response.status_code == 401
    from store.news.models import Article

    assert db.exec(select(Article)).all() == []


@pytest.mark.parametrize("role", ["catalogue", "fulfilment"])
def test_wrong_role_gets_403_for_get_and_post(client, login_as, db, role):
    login_as(role)
    assert client.get("/staff/articles").status_code == 403
    token = get_csrf(client)
    response = client.post("/staff/articles/new", data={"title": "No", "body_md": "x", "csrf_token": token})
    assert response.status_code == 403
    from store.news.models import Article

    assert db.exec(select(Article)).all() == []


def test_editor_creates_and_publishes_an_article(client, login_as, db):
    login_as("editor")
    token = get_csrf(client, "/staff/articles/new")
    response = client.post(
        "/staff/articles/new",
        data={"title": "Rent strike wins", "body_md": "The tenants won.", "tags": "Housing, Workers rights",
              "links": "Report | https://example.org/report", "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303
    article_path = response.headers["location"]
    assert client.get("/news/rent-strike-wins").status_code == 200  # staff may preview a draft
    client.cookies.delete("rrm_staff")
    assert client.get("/news/rent-strike-wins").status_code == 404  # the public may not
    login_as_email = "editor@staff.example"
    _login(client, login_as_email, "correct-horse-battery")
    token = get_csrf(client, article_path)
    assert client.post(f"{article_path}/publish", data={"publish": "1", "csrf_token": token},
                       follow_redirects=False).status_code == 303
    client.cookies.delete("rrm_staff")
    page = BeautifulSoup(client.get("/news/rent-strike-wins").text, "html.parser")
    assert page.h1.get_text(strip=True) == "Rent strike wins"
    assert [a["href"] for a in page.select(".report-links a")] == ["https://example.org/report"]


def test_an_article_title_with_accents_gets_a_readable_slug(client, login_as, db):
    login_as("editor")
    token = get_csrf(client, "/staff/articles/new")
    response = client.post(
        "/staff/articles/new",
        data={"title": "Greve geral em São Paulo", "body_md": "Strike.", "tags": "São Paulo, Brasil",
              "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303
    from store.news.models import Article

    [article] = db.exec(select(Article)).all()
    assert article.slug == "greve-geral-em-sao-paulo"
    db.rollback()
    page = BeautifulSoup(client.get("/news/greve-geral-em-sao-paulo").text, "html.parser")
    assert page.h1.get_text(strip=True) == "Greve geral em São Paulo"


def test_article_form_rerenders_with_errors_and_keeps_values(client, login_as):
    login_as("editor")
    token = get_csrf(client, "/staff/articles/new")
    response = client.post(
        "/staff/articles/new",
        data={"title": "", "slug": "Bad Slug!", "body_md": "", "standfirst": "kept", "csrf_token": token},
    )
    assert response.status_code == 422
    soup = BeautifulSoup(response.text, "html.parser")
    assert soup.select_one("#f-title-error").get_text(strip=True) == "Enter a headline."
    assert soup.select_one("#f-slug-error").get_text(strip=True) == "Use lower-case letters, numbers and hyphens only."
    assert soup.select_one("#f-standfirst")["value"] == "kept"


def test_post_without_csrf_token_is_refused(client, login_as):
    login_as("editor")
    response = client.post("/staff/articles/new", data={"title": "x", "body_md": "y"})
    assert response.status_code == 403
    bad = client.post("/staff/articles/new", data={"title": "x", "body_md": "y", "csrf_token": "forged"})
    assert bad.status_code == 403
    header = client.post(
        "/staff/logout", headers={"X-CSRF-Token": get_csrf(client)}, follow_redirects=False
    )
    assert header.status_code == 303


def test_post_from_a_browser_without_our_cookie_is_refused(app):
    from fastapi.testclient import TestClient

    fresh = TestClient(app)
    assert fresh.post("/staff/login", data={"email": "a@b.c", "password": "x"}).status_code == 403


def test_login_gives_a_new_session_and_logout_ends_it(client, make_staff, db):
    email = make_staff("editor")
    earlier = _login(client, email, "correct-horse-battery").cookies["rrm_staff"]
    response = _login(client, email, "correct-horse-battery")
    assert response.status_code == 303
    cookie = response.cookies["rrm_staff"]
    assert cookie != earlier and len(cookie) >= 40  # a fresh id at every login
    set_cookie = response.headers["set-cookie"].lower()
    assert "httponly" in set_cookie and "samesite=lax" in set_cookie
    assert client.get("/staff/articles").status_code == 200
    assert len(db.exec(select(StaffSession)).all()) == 1

    client.post("/staff/logout", data={"csrf_token": get_csrf(client, "/staff")}, follow_redirects=False)
    db.rollback()  # end the read snapshot so we see what the app committed
    assert db.exec(select(StaffSession)).all() == []
    client.cookies.set("rrm_staff", cookie)  # replaying the old cookie no longer works
    assert client.get("/staff/articles", follow_redirects=False).status_code == 303


def test_wrong_password_and_unknown_email_get_the_same_answer(client, make_staff):
    email = make_staff("editor")
    wrong = _login(client, email, "not-the-password")
    unknown = _login(client, "nobody@staff.example", "not-the-password")
    assert wrong.status_code == unknown.status_code == 400
    message = lambda r: BeautifulSoup(r.text, "html.parser").select_one("#f-email-error").get_text(strip=True)  # noqa: E731
    assert message(wrong) == message(unknown) == "That email and password don't match an account."


def test_failed_logins_are_throttled_even_for_the_right_password(client, make_staff):
    email = make_staff("editor")
    for _ in range(5):
        assert _login(client, email, "guess").status_code == 400
    blocked = _login(client, email, "correct-horse-battery")
    assert blocked.status_code == 429
    assert "Too many failed attempts" in blocked.text
    # an unknown address is throttled in the same way: no hint which addresses exist
    for _ in range(5):
        _login(client, "ghost@staff.example", "guess")
    assert _login(client, "ghost@staff.example", "guess").status_code == 429


def test_passwords_are_stored_as_argon2id(make_staff, db):
    from store.auth.models import StaffUser

    make_staff("owner")
    user = db.exec(select(StaffUser)).one()
    assert user.password_hash.startswith("$argon2id$")


def test_open_redirect_after_login_is_refused(client, make_staff):
    email = make_staff("editor")
    token = get_csrf(client)
    response = client.post(
        "/staff/login",
        data={"email": email, "password": "correct-horse-battery", "csrf_token": token, "next": "//evil.example"},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/staff"
