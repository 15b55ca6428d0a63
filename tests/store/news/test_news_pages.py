"""The news side through HTTP: the launch article, feeds, plumbing routes, sanitising."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

import pytest
from bs4 import BeautifulSoup

from store.demo.articles import LAUNCH_CREDIT, LAUNCH_LINKS, LAUNCH_SLUG, LAUNCH_TITLE
from store.demo.load import load_demo_data
from store.markdown import render_markdown
from store.news.models import Article
from store.timeutil import utcnow


@pytest.fixture
def demo(db):
    load_demo_data(db)
    db.commit()


def test_launch_article_shows_credit_quotes_with_speakers_and_report_links(client, demo):
    # When a reader opens the launch story
    response = client.get(f"/news/{LAUNCH_SLUG}")

    # Then they see the headline, the photo credit, each pull quote with its speaker, and the reports
    assert response.status_code == 200
    soup = BeautifulSoup(response.text, "html.parser")
    assert soup.h1.get_text(strip=True) == LAUNCH_TITLE
    assert soup.select_one("figure.hero figcaption").get_text(strip=True) == LAUNCH_CREDIT
    assert soup.select_one("figure.hero img")["alt"] != ""
    quotes = [
        (fig.blockquote.get_text(" ", strip=True).split(" ")[:4], fig.figcaption.get_text(strip=True))
        for fig in soup.select("figure.pull-quote")
    ]
    assert quotes == [
        (["“One", "US", "military", "official"], "— Amnesty International"),
        (["“I", "saw", "my", "son"], "— Ayat Mohammed Jasem"),
        (["“The", "Coalition", "has", "so"], "— Donatella Rovera, Senior Crisis Response Adviser"),
    ]
    links = [(a.get_text(strip=True), a["href"]) for a in soup.select(".report-links a")]
    assert links == [(title, url) for title, url in LAUNCH_LINKS]
    # the funding appeal and newsletter sign-up sit beside every story
    assert "not sponsored or endorsed by big business" in soup.select_one("footer").get_text()
    assert soup.select_one("form[action='/newsletter'] button").get_text(strip=True) == "Subscribe"


def test_home_lists_articles_newest_first_with_the_shop_promo(client, demo):
    soup = BeautifulSoup(client.get("/").text, "html.parser")
    titles = [h.get_text(strip=True) for h in soup.select(".teaser h2")]
    assert titles[0] == LAUNCH_TITLE
    assert len(titles) == 5
    promo = soup.select_one(".promo").get_text(" ", strip=True)
    assert "socialist, progressive and protest fashions" in promo
    assert "From t-shirts to cushions" in promo
    nav = [a.get_text(strip=True) for a in soup.select("nav[aria-label=Main] a")]
    assert nav[:4] == ["News", "Shop", "Donate", "Newsletter"]


def test_rss_feed_parses_and_every_link_resolves(client, demo):
    response = client.get("/feed.xml")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/rss+xml")
    root = ET.fromstring(response.content)
    assert root.tag == "rss" and root.attrib["version"] == "2.0"
    items = root.findall("./channel/item")
    assert [i.findtext("title") for i in items][0] == LAUNCH_TITLE
    assert len(items) == 5
    for item in items:
        path = urlsplit(item.findtext("link")).path
        assert client.get(path).status_code == 200


def test_sitemap_robots_and_health(client, demo):
    sitemap = ET.fromstring(client.get("/sitemap.xml").content)
    locs = [el.text for el in sitemap.iter("{http://www.sitemaps.org/schemas/sitemap/0.9}loc")]
    assert f"http://testserver/news/{LAUNCH_SLUG}" in locs
    robots = client.get("/robots.txt").text
    assert "Disallow: /staff/" in robots and "Sitemap: http://testserver/sitemap.xml" in robots
    health = client.get("/healthz")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})


def test_unknown_and_draft_articles_are_friendly_404s(client, db):
    db.add(Article(slug="draft-story", title="Draft", body_md="text"))
    db.add(Article(slug="future-story", title="Later", body_md="text", published_at=None))
    db.commit()
    for path in ("/news/no-such-story", "/news/draft-story", "/no/such/page"):
        response = client.get(path)
        assert response.status_code == 404
        soup = BeautifulSoup(response.text, "html.parser")
        assert soup.h1.get_text(strip=True) == "Page not found"
        assert "Traceback" not in response.text


def test_markdown_with_script_is_sanitised(client, db):
    db.add(
        Article(
            slug="xss",
            title="XSS attempt",
            body_md='Hello <script>alert("x")</script>\n\n[click](javascript:alert(1))\n\n<img src=x onerror=alert(1)>',
            published_at=utcnow(),
        )
    )
    db.commit()
    html = client.get("/news/xss").text
    body = BeautifulSoup(html, "html.parser").select_one(".article-body")
    assert body.find("script") is None
    assert body.find("img") is None
    assert all(not a.get("href", "").startswith("javascript") for a in body.find_all("a"))
    assert "alert" not in "".join(str(tag.attrs) for tag in body.find_all(True))


def test_pull_quote_markup_from_markdown():
    html = render_markdown("> “Words.”\n>\n> — A Person\n")
    soup = BeautifulSoup(html, "html.parser")
    assert soup.select_one("figure.pull-quote blockquote").get_text(strip=True) == "“Words.”"
    assert soup.select_one("figure.pull-quote figcaption").get_text(strip=True) == "— A Person"


def test_security_headers_on_every_page(client):
    response = client.get("/")
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"
