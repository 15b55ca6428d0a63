"""`storefront demo-data`: fill an empty database with believable content."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlmodel import Session, func, select

from store.auth.models import Role, StaffUser
from store.auth.service import create_staff
from store.db import allow_long_write
from store.demo import articles as demo
from store.demo.images import photo
from store.errors import DomainError
from store.media import store_image
from store.news.models import Article, Author
from store.news.service import set_links, set_tags
from store.registry import domain_modules
from store.timeutil import utcnow

DEMO_STAFF = {
    Role.owner: ("owner@example.com", "demo-owner-password"),
    Role.editor: ("editor@example.com", "demo-editor-password"),
    Role.catalogue: ("catalogue@example.com", "demo-catalogue-password"),
    Role.fulfilment: ("fulfilment@example.com", "demo-fulfilment-password"),
}


class DatabaseNotEmpty(DomainError):
    pass


def database_is_empty(session: Session) -> bool:
    staff = session.exec(select(func.count()).select_from(StaffUser)).one()
    articles = session.exec(select(func.count()).select_from(Article)).one()
    return staff == 0 and articles == 0


def load_demo_data(session: Session, *, progress: Callable[[str, int, int], None] | None = None) -> None:
    # One bulk load into an empty database (staff passwords hashed, photos drawn): it holds the SQLite
    # write lock throughout on purpose, before anything else uses the database.
    with allow_long_write("loading demo data"):
        _load(session, progress=progress)


def _load(session: Session, *, progress: Callable[[str, int, int], None] | None = None) -> None:
    if not database_is_empty(session):
        raise DatabaseNotEmpty("The database already has data; demo data only goes into an empty one.")
    modules = domain_modules("demo")
    total = 2 + len(demo.MORE_ARTICLES) + len(modules)
    step = iter(range(1, total + 1))

    def advance() -> None:
        if progress:
            progress("demo data", next(step), total)

    if progress:
        progress("demo data", 0, total)
    for role, (email, password) in DEMO_STAFF.items():
        create_staff(session, email=email, password=password, role=role)
    newsroom = Author(name="Red Revolution Media newsroom", slug="newsroom")
    reporter = Author(name="Sam Okafor", slug="sam-okafor")
    session.add_all([newsroom, reporter])
    session.flush()
    advance()

    now = utcnow()
    hero = store_image(photo("Raqqa city", seed=1), field="photo").key
    launch = Article(
        slug=demo.LAUNCH_SLUG,
        title=demo.LAUNCH_TITLE,
        standfirst="Amnesty International says the true toll is far higher than the 1,302 deaths admitted.",
        body_md=demo.LAUNCH_BODY,
        author_id=newsroom.id,
        published_at=now - timedelta(hours=3),
        hero_image=hero,
        hero_alt="Destroyed buildings in Raqqa city under a dusky sky",
        hero_credit=demo.LAUNCH_CREDIT,
    )
    session.add(launch)
    session.flush()
    assert launch.id is not None
    set_links(session, article_id=launch.id, links=demo.LAUNCH_LINKS)
    set_tags(session, article_id=launch.id, tags=["anti-war", "human-rights"])
    advance()

    for index, (slug, title, standfirst, body, tags, sensitive, days) in enumerate(demo.MORE_ARTICLES):
        image = store_image(photo(title.split(" ")[0], seed=index + 10), field="photo").key
        article = Article(
            slug=slug,
            title=title,
            standfirst=standfirst,
            body_md=body,
            author_id=reporter.id,
            published_at=now - timedelta(days=days),
            hero_image=image,
            hero_alt=f"Illustration for: {title}",
            hero_credit="Red Revolution Media",
            sensitive=sensitive,
        )
        session.add(article)
        session.flush()
        assert article.id is not None
        set_tags(session, article_id=article.id, tags=tags)
        advance()
    for module in modules:
        module.load_demo(session)
        advance()
