"""Products beside the stories: staff picks, shared tags, the home page, the sitemap, sensitive stories."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from sqlmodel import func, select

from catalog import service
from catalog.demo import LAUNCH_PICKS
from catalog.models import Collection, Product, ProductImage, Variant
from store.demo.articles import LAUNCH_SLUG
from store.news.models import Article
from store.news.service import set_tags
from store.timeutil import utcnow
from tests.factories import make_product


def _article(db, slug: str, tags: list[str], *, sensitive: bool = False) -> Article:  # type: ignore[no-untyped-def]
    article = Article(
        slug=slug,
        title=slug.replace("-", " ").title(),
        body_md="Text.",
        sensitive=sensitive,
        published_at=utcnow() - timedelta(hours=1),
    )
    db.add(article)
    db.flush()
    set_tags(db, article_id=article.id, tags=tags)
    db.commit()
    return article


def _beside(client, slug: str) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    soup = BeautifulSoup(client.get(f"/news/{slug}").text, "html.parser")
    return [
        (c.h3.get_text(strip=True), c.a["href"], c.select_one(".price").get_text(strip=True))
        for c in soup.select(".beside .product-card")
    ]


def test_staff_picks_come_first_then_products_sharing_tags(client, db):
    make_product(db, "Climate tee", tags="climate")
    nhs = make_product(db, "NHS tee", tags="nhs")
    make_product(db, "Unrelated tee", tags="housing")
    make_product(db, "Draft climate tee", tags="climate", published=False)
    article = _article(db, "climate-march", ["climate"])
    service.pick_for_article(db, article_id=article.id, product_id=nhs.id)
    db.commit()

    assert _beside(client, "climate-march") == [
        ("NHS tee", "/shop/nhs-tee?from=climate-march", "£25.00"),
        ("Climate tee", "/shop/climate-tee?from=climate-march", "£25.00"),
    ]


def test_a_sensitive_story_shows_no_products_only_the_appeal(client, db):
    tee = make_product(db, "Anti-war tee", tags="anti-war")
    article = _article(db, "hard-story", ["anti-war"], sensitive=True)
    service.pick_for_article(db, article_id=article.id, product_id=tee.id)
    db.commit()

    soup = BeautifulSoup(client.get("/news/hard-story").text, "html.parser")

    assert soup.select(".product-card") == []
    assert soup.select_one(".promo") is None
    assert soup.select_one(".appeal-box h2").get_text(strip=True) == "Support independent journalism"
    # the same product does show beside an ordinary story with that tag
    _article(db, "ordinary-story", ["anti-war"])
    assert [t for t, _, _ in _beside(client, "ordinary-story")] == ["Anti-war tee"]


def test_home_page_features_products_and_sitemap_lists_them(client, db):
    make_product(db, "First tee")
    make_product(db, "Second tee")
    make_product(db, "Hidden tee", published=False)

    home = BeautifulSoup(client.get("/").text, "html.parser")
    assert [h.get_text(strip=True) for h in home.select(".featured .product-card h3")] == [
        "First tee",
        "Second tee",
    ]

    sitemap = ET.fromstring(client.get("/sitemap.xml").content)
    locs = [el.text for el in sitemap.iter("{http://www.sitemaps.org/schemas/sitemap/0.9}loc")]
    assert [loc for loc in locs if "/shop" in (loc or "")] == [
        "http://testserver/shop",
        "http://testserver/shop/first-tee",
        "http://testserver/shop/second-tee",
    ]


@pytest.fixture
def demo(db):  # type: ignore[no-untyped-def]
    from store.demo.load import load_demo_data

    load_demo_data(db)
    db.commit()


def _count(db, model) -> int:  # type: ignore[no-untyped-def]
    return db.exec(select(func.count()).select_from(model)).one()


def test_demo_catalogue_is_believable_and_sits_beside_the_launch_story(client, db, demo):
    tshirts = db.exec(
        select(func.count()).select_from(Product).join(Collection).where(Collection.slug == "t-shirts")
    ).one()
    assert (tshirts, _count(db, Product)) == (12, 18)
    assert _count(db, ProductImage) == 43  # one shot per product colour
    assert db.exec(select(func.count()).select_from(ProductImage).where(ProductImage.alt == "")).one() == 0
    big = service.variant_by_sku(db, "RRM-NO-WAR-BUT-CLASS-WAR-TEE-BLACK-3XL")
    medium = service.variant_by_sku(db, "RRM-NO-WAR-BUT-CLASS-WAR-TEE-BLACK-M")
    cushion = service.variant_by_sku(db, "RRM-PEACE-NOT-BOMBS-CUSHION-NATURAL-45-X-45-CM")
    assert big and medium and cushion
    assert (big[1].price_for(big[0]).amount, medium[1].price_for(medium[0]).amount) == (2700, 2500)
    assert cushion[1].price_for(cushion[0]).amount == 3000
    assert medium[1].provider_cost == 1150
    assert (
        medium[1].print_file_url == "https://files.redrevolution.example/prints/no-war-but-class-war-tee.png"
    )
    assert (
        db.exec(select(func.count()).select_from(Variant).where(Variant.provider_variant_id.is_(None))).one()
        == 0
    )  # type: ignore[union-attr]

    titles = {p.slug: p.title for p in db.exec(select(Product)).all()}
    assert [t for t, _, _ in _beside(client, LAUNCH_SLUG)] == [titles[s] for s in LAUNCH_PICKS] + [
        "Human Rights Are Not Optional t-shirt"
    ]
    # the demo's sensitive story (flooded families) shows none, though housing products exist
    assert _beside(client, "flood-victims-left-waiting") == []
    # a story tagged climate + protest shows products sharing either tag, in shop order, linking back
    assert _beside(client, "climate-march-london") == [
        (
            "No War But The Class War t-shirt",
            "/shop/no-war-but-class-war-tee?from=climate-march-london",
            "£25.00",
        ),
        ("Solidarity Forever t-shirt", "/shop/solidarity-forever-tee?from=climate-march-london", "£25.00"),
        (
            "Homes For People Not Profit t-shirt",
            "/shop/homes-for-people-not-profit-tee?from=climate-march-london",
            "£25.00",
        ),
        ("There Is No Planet B t-shirt", "/shop/no-planet-b-tee?from=climate-march-london", "£25.00"),
    ]
