"""News pages through the page cache (store/page_cache.py): kept for every reader, rebuilt at once
after a change to a story or the shop beside it, never past a scheduled story's time, and never
showing one reader's bits (staff view, flash) to another."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from bs4 import BeautifulSoup

from catalog import service as catalog
from store.media import store_image
from store.news.models import Article
from store.timeutil import utcnow
from tests.factories import make_article, make_product


@pytest.fixture
def story(db):  # type: ignore[no-untyped-def]
    return make_article(
        db,
        slug="nurses-strike",
        title="Nurses strike for fair pay",
        standfirst="Picket lines at every hospital.",
        body_md="The strike began at dawn.",
    )


def _soup(response):  # type: ignore[no-untyped-def]
    return BeautifulSoup(response.text, "html.parser")


def test_news_pages_are_kept_and_rebuilt_after_an_edit(client, db, story, count_queries):
    for path in ("/", "/news/nurses-strike", "/feed.xml"):
        assert client.get(path).status_code == 200
    count_queries.clear()
    assert [client.get(p).status_code for p in ("/", "/news/nurses-strike", "/feed.xml")] == [200] * 3
    assert count_queries == []

    story.title = "Nurses win fair pay"
    db.add(story)
    db.commit()

    assert _soup(client.get("/")).select_one(".teaser h2").get_text(strip=True) == "Nurses win fair pay"
    assert _soup(client.get("/news/nurses-strike")).h1.get_text(strip=True) == "Nurses win fair pay"
    assert "<title>Nurses win fair pay</title>" in client.get("/feed.xml").text
    # links in kept pages are paths, never built from the Host a request came with
    poisoned = client.get("/", headers={"Host": "evil.example"})
    assert _soup(poisoned).select_one(".teaser h2 a")["href"] == "/news/nurses-strike"


def test_a_new_product_beside_the_story_shows_at_once(client, db, story):
    client.get("/news/nurses-strike")
    product = make_product(db, "Pay the nurses t-shirt", sizes="M", colours="Black")
    catalog.pick_for_article(db, article_id=story.id, product_id=product.id)
    db.commit()

    cards = _soup(client.get("/news/nurses-strike")).select(".beside .product-card h3")
    assert [c.get_text(strip=True) for c in cards] == ["Pay the nurses t-shirt"]


def test_staff_see_their_own_render_and_readers_never_see_it(client, story, login_as):
    client.get("/news/nurses-strike")  # kept for readers
    login_as("editor")
    staff_view = _soup(client.get("/news/nurses-strike"))
    assert staff_view.select_one("link[href='/static/css/staff.css']") is not None

    client.cookies.clear()
    reader_view = _soup(client.get("/news/nurses-strike"))
    assert reader_view.select_one("link[href='/static/css/staff.css']") is None


def test_a_kept_page_expires_when_a_scheduled_story_goes_live(client, db, story):
    db.add(
        Article(
            slug="budget-day",
            title="Budget day",
            body_md="Embargoed.",
            published_at=utcnow() + timedelta(seconds=30),
        )
    )
    db.commit()

    client.get("/")
    entry = client.app.state.page_cache.get("/")

    assert entry is not None and 0 < entry.expires - time.time() <= 31


def test_teaser_photos_and_product_cards_offer_every_width(client, db, story):
    key = store_image(_png(), field="photo").key
    story.hero_image = key
    db.add(story)
    db.commit()
    product = make_product(db, "Pay the nurses t-shirt", sizes="M", colours="Black")
    catalog.add_image(db, product_id=product.id, image_key=key, alt="The shirt", colour=None)
    db.commit()

    home = _soup(client.get("/"))

    teaser = home.select_one(".teaser img")
    assert (
        teaser["srcset"]
        == f"/media/{key}-320.webp 320w, /media/{key}-640.webp 640w, /media/{key}-1200.webp 1200w"
    )
    assert teaser["sizes"].startswith("(min-width: 1180px) 810px")
    card = home.select_one(".featured .product-card img")
    assert card["src"] == f"/media/{key}-320.webp"
    assert card["srcset"] == f"/media/{key}-320.webp 320w, /media/{key}-640.webp 640w"
    assert card["sizes"] == "(min-width: 861px) 150px, 50vw"


def _png() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (1300, 800), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()
