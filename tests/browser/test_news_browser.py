"""The article page and staff login in headless Chromium."""

from __future__ import annotations

import pytest

from store.demo.articles import LAUNCH_CREDIT, LAUNCH_SLUG

pytestmark = pytest.mark.browser


@pytest.fixture
def demo(db):
    from store.demo.load import load_demo_data

    load_demo_data(db)
    db.commit()


def test_reader_sees_the_launch_article_with_credit_and_quotes(page, live_server, demo):
    page.goto(f"{live_server.url}/news/{LAUNCH_SLUG}")
    assert page.locator("figure.hero figcaption").inner_text() == LAUNCH_CREDIT
    assert page.locator("figure.pull-quote figcaption").all_inner_texts() == [
        "— Amnesty International",
        "— Ayat Mohammed Jasem",
        "— Donatella Rovera, Senior Crisis Response Adviser",
    ]
    assert page.locator(".report-links a").count() == 4
    # the hero photo actually loads (sized and served from /media)
    loaded = page.evaluate(
        "(() => { const i = document.querySelector('figure.hero img'); return [i.complete, i.naturalWidth > 0, i.currentSrc]; })()"
    )
    assert loaded[:2] == [True, True]
    assert loaded[2].endswith("-1200.webp")  # a 760 px slot at 1x takes the 1200 px file


def test_staff_member_logs_in_and_out_in_a_browser(page, live_server, demo):
    page.goto(f"{live_server.url}/staff/articles")
    page.get_by_label("Email").fill("editor@example.com")
    page.get_by_label("Password").fill("demo-editor-password")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/staff/articles")
    assert page.get_by_role("heading", level=1).inner_text() == "Articles"
    assert page.get_by_role("link", name="Despite U.S.-Led Coalition", exact=False).count() == 1
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{live_server.url}/staff/login")
    page.goto(f"{live_server.url}/staff/articles")
    assert page.url.startswith(f"{live_server.url}/staff/login")


def test_wrong_password_shows_the_message_beside_the_field(page, live_server, demo):
    page.goto(f"{live_server.url}/staff/login")
    page.get_by_label("Email").fill("editor@example.com")
    page.get_by_label("Password").fill("wrong-password")
    page.get_by_role("button", name="Log in").click()
    assert page.locator("#f-email-error").inner_text() == "That email and password don't match an account."
