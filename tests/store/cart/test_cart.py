"""The guest cart over HTTP: add, change, remove; refused quantities; prices only from the catalogue."""

from __future__ import annotations

import time

import pytest
from sqlmodel import select

from store import web
from store.cart.models import Cart, CartLine
from store.cart.service import CART_COOKIE, decode_cookie, encode_cookie
from store.news.models import Article
from tests.conftest import csrf_from, get_csrf, soup
from tests.factories import add, make_product, sku_of


def cart_lines(db) -> list[CartLine]:  # type: ignore[no-untyped-def]
    db.rollback()  # a fresh snapshot: the app wrote through its own connection
    found = list(db.exec(select(CartLine).order_by(CartLine.id)).all())
    db.rollback()
    return found


def test_add_by_sku_then_by_product_options_merges_into_one_line(client, db) -> None:  # type: ignore[no-untyped-def]
    product = make_product(db, price="25.00", colours="Black")
    sku = sku_of(db, product, "M")
    # when the same variant is added by SKU and by product + size + colour
    first = add(client, sku, 2)
    token = get_csrf(client)
    second = client.post(
        "/cart/add",
        data={"csrf_token": token, "product": product.slug, "size": "M", "colour": "Black", "quantity": "3"},
        follow_redirects=False,
    )
    # then both answer 303 to /cart and there is one line of 5
    assert (first.status_code, first.headers["location"]) == (303, "/cart")
    assert second.status_code == 303
    lines = cart_lines(db)
    assert [(ln.sku, ln.quantity) for ln in lines] == [(sku, 5)]
    page = soup(client.get("/cart").text)
    assert page.select_one(".cart-count").get_text() == "5"
    assert page.select_one('[data-amount="subtotal"]').get_text() == "£125.00"
    assert page.select_one('[data-amount="total"]')["data-pence"] == str(12500 + 399)
    assert page.find("a", string="Checkout")["href"] == "/checkout"
    assert page.find("label", string="Quantity") is not None


@pytest.mark.parametrize("quantity", ["0", "-1", "1000000000", "abc", "", "2.5", "21"])
def test_refused_quantities_change_nothing(client, db, quantity: str) -> None:  # type: ignore[no-untyped-def]
    sku = sku_of(db, make_product(db, colours="Black"))
    response = add(client, sku, quantity)
    assert response.status_code == 422
    assert soup(response.text).find(string="Choose a quantity from 1 to 20.") is not None
    assert cart_lines(db) == []


def test_quantity_update_refuses_out_of_range_and_keeps_the_old_value(client, db) -> None:  # type: ignore[no-untyped-def]
    sku = sku_of(db, make_product(db, colours="Black"))
    add(client, sku, 2)
    line = cart_lines(db)[0]
    page = client.get("/cart")
    token = csrf_from(page.text)
    for bad in ("0", "-1", "1000000000", "abc"):
        r = client.post(
            f"/cart/lines/{line.id}", data={"csrf_token": token, "quantity": bad}, follow_redirects=False
        )
        assert r.status_code == 422
        assert (
            soup(r.text).select_one(f"#qty-{line.id}-error").get_text() == "Choose a quantity from 1 to 20."
        )
    ok = client.post(
        f"/cart/lines/{line.id}", data={"csrf_token": token, "quantity": "20"}, follow_redirects=False
    )
    assert ok.status_code == 303
    assert cart_lines(db)[0].quantity == 20
    # adding more past 20 is refused too
    assert add(client, sku, 1).status_code == 422
    assert cart_lines(db)[0].quantity == 20


def test_injected_price_fields_are_ignored(client, db) -> None:  # type: ignore[no-untyped-def]
    product = make_product(db, price="25.00", colours="Black")
    sku = sku_of(db, product)
    r = add(client, sku, 1, price="1", unit_price="1", total="1", amount="1", vat_rate_bp="0")
    assert r.status_code == 303
    page = soup(client.get("/cart").text)
    assert page.select_one('[data-amount="subtotal"]').get_text() == "£25.00"


def test_unknown_and_unpublished_skus_are_refused(client, db) -> None:  # type: ignore[no-untyped-def]
    draft = make_product(db, "Draft shirt", published=False, colours="Black")
    for sku in ("NO-SUCH-SKU", sku_of(db, draft)):
        r = add(client, sku, 1)
        assert r.status_code == 422
        assert "isn't available" in soup(r.text).select_one("p.error").get_text()
    assert cart_lines(db) == []


def test_price_comes_from_the_catalogue_at_render(client, db) -> None:  # type: ignore[no-untyped-def]
    product = make_product(db, price="25.00", colours="Black")
    add(client, sku_of(db, product), 2)
    product.price = 3000
    db.add(product)
    db.commit()
    page = soup(client.get("/cart").text)
    assert page.select_one('[data-amount="subtotal"]').get_text() == "£60.00"


def test_unpublished_after_adding_is_shown_but_not_counted(client, db) -> None:  # type: ignore[no-untyped-def]
    keep = make_product(db, "Keep", price="20.00", colours="Black")
    gone = make_product(db, "Gone", price="25.00", colours="Black")
    add(client, sku_of(db, keep), 1)
    add(client, sku_of(db, gone), 1)
    gone.is_published = False
    db.add(gone)
    db.commit()
    page = soup(client.get("/cart").text)
    assert page.select_one('[data-amount="subtotal"]').get_text() == "£20.00"
    assert "Gone" in page.select_one(".notice").get_text()


def test_remove_line(client, db) -> None:  # type: ignore[no-untyped-def]
    add(client, sku_of(db, make_product(db, colours="Black")), 1)
    line = cart_lines(db)[0]
    token = get_csrf(client)
    r = client.post(f"/cart/lines/{line.id}/remove", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    assert cart_lines(db) == []
    assert soup(client.get("/cart").text).select_one(".cart-count").get_text() == "0"


def test_tampered_cookie_is_an_empty_cart_not_an_error(client, db) -> None:  # type: ignore[no-untyped-def]
    add(client, sku_of(db, make_product(db, colours="Black")), 3)
    good = client.cookies.get(CART_COOKIE)
    assert decode_cookie(good) is not None
    client.cookies.set(CART_COOKIE, good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB"))
    page = client.get("/cart")
    assert page.status_code == 200
    assert soup(page.text).select_one(".empty-cart") is not None
    assert soup(client.get("/").text).select_one(".cart-count").get_text() == "0"
    client.cookies.set(CART_COOKIE, "garbage")
    assert client.get("/cart").status_code == 200


def test_another_carts_line_cannot_be_changed(client, db) -> None:  # type: ignore[no-untyped-def]
    sku = sku_of(db, make_product(db, colours="Black"))
    add(client, sku, 1)
    mine = cart_lines(db)[0]
    other = Cart(token="someone-elses")
    db.add(other)
    db.commit()
    theirs = CartLine(cart_id=other.id, sku=sku, quantity=4)
    db.add(theirs)
    db.commit()
    token = get_csrf(client)
    client.post(f"/cart/lines/{theirs.id}", data={"csrf_token": token, "quantity": "1"})
    client.post(f"/cart/lines/{theirs.id}/remove", data={"csrf_token": token})
    db.rollback()
    assert db.get(CartLine, theirs.id).quantity == 4
    assert db.get(CartLine, mine.id) is not None


def test_cookie_signed_for_another_cart_token_finds_nothing(client, db) -> None:  # type: ignore[no-untyped-def]
    client.cookies.set(CART_COOKIE, encode_cookie("not-a-real-token", 7))
    page = soup(client.get("/cart").text)
    assert page.select_one(".empty-cart") is not None


def test_no_csrf_is_403_and_adds_nothing(client, db) -> None:  # type: ignore[no-untyped-def]
    sku = sku_of(db, make_product(db, colours="Black"))
    client.get("/staff/login")
    r = client.post("/cart/add", data={"sku": sku, "quantity": "1"}, follow_redirects=False)
    assert r.status_code == 403
    assert cart_lines(db) == []


def test_from_article_is_stored_for_attribution(client, db) -> None:  # type: ignore[no-untyped-def]
    article = Article(slug="war-story", title="A story")
    db.add(article)
    db.commit()
    add(client, sku_of(db, make_product(db, colours="Black")), 1, **{"from": "war-story"})
    assert cart_lines(db)[0].article_id == article.id


def test_staff_login_does_not_touch_the_cart(client, db, login_as) -> None:  # type: ignore[no-untyped-def]
    add(client, sku_of(db, make_product(db, colours="Black")), 2)
    cookie = client.cookies.get(CART_COOKIE)
    login_as("owner")
    assert client.cookies.get(CART_COOKIE) == cookie
    assert soup(client.get("/cart").text).select_one(".cart-count").get_text() == "2"
    # a fresh browser (no cart cookie) that logs in has an empty cart
    client.cookies.delete(CART_COOKIE)
    assert soup(client.get("/cart").text).select_one(".empty-cart") is not None


def _token_issued(secret: str, seconds_ago: int) -> str:
    issued = (int(time.time()) - seconds_ago) // 3600 * 3600
    return f"{issued:x}.{web._csrf_mac(secret, issued)}"


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda token, secret: token[:-1] + ("0" if token[-1] != "0" else "1"), id="tampered"),
        pytest.param(
            lambda token, secret: web.csrf_token_for("another-browser-secret-xyz"), id="other-secret"
        ),
        pytest.param(lambda token, secret: _token_issued(secret, web.CSRF_MAX_AGE + 2 * 3600), id="expired"),
        pytest.param(lambda token, secret: _token_issued(secret, -2 * 3600), id="from-the-future"),
        pytest.param(lambda token, secret: token.split(".")[1], id="mac-only"),
    ],
)
def test_a_forged_or_stale_csrf_token_is_403_and_adds_nothing(client, db, forge) -> None:  # type: ignore[no-untyped-def]
    sku = sku_of(db, make_product(db, colours="Black"))
    token = get_csrf(client)
    secret = client.cookies.get(web.CSRF_COOKIE)
    assert (
        client.post(
            "/cart/add", data={"csrf_token": _token_issued(secret, 3 * 3600), "sku": sku, "quantity": "1"}
        ).status_code
        == 200
    )  # a token from hours ago posts
    before = cart_lines(db)
    r = client.post(
        "/cart/add",
        data={"csrf_token": forge(token, secret), "sku": sku, "quantity": "1"},
        follow_redirects=False,
    )
    assert r.status_code == 403
    assert cart_lines(db) == before


def test_the_rows_an_add_writes_carry_the_models_own_defaults() -> None:
    # add-to-cart writes its rows from plain dicts (building the models cost more than the INSERTs):
    # a column given a default in the model and forgotten there would fail this
    from store.cart import service
    from store.timeutil import utcnow

    now = utcnow()
    cart = Cart(token="t").model_dump(exclude={"id"})
    assert service._new_cart_values(token="t", now=now) == {**cart, "created_at": now, "updated_at": now}
    line = CartLine(cart_id=0, sku="S", quantity=2, article_id=7).model_dump(exclude={"id"})
    assert service._line_values(sku="S", qty=2, article_id=7, now=now) == {**line, "created_at": now}


def test_a_sku_withdrawn_after_an_add_is_refused_at_once(client, db) -> None:  # type: ignore[no-untyped-def]
    # the process remembers SKUs it found purchasable (catalog.service.purchasable_sku): a staff change
    # committed after that must count on the very next add, through the page's own form post
    from catalog.models import Variant

    product = make_product(db, colours="Black")
    sku = sku_of(db, product)
    assert add(client, sku, 1).status_code == 303
    assert add(client, sku, 1).status_code == 303  # the remembered answer
    variant = db.exec(select(Variant).where(Variant.sku == sku)).one()
    variant.is_available = False
    db.add(variant)
    db.commit()
    refused = add(client, sku, 1)
    assert refused.status_code == 422
    assert "isn't available" in soup(refused.text).select_one("p.error").get_text()
    assert [line.quantity for line in cart_lines(db)] == [2]
    variant = db.exec(select(Variant).where(Variant.sku == sku)).one()
    variant.is_available = True
    db.add(variant)
    db.commit()
    assert add(client, sku, 1).status_code == 303
    assert [line.quantity for line in cart_lines(db)] == [3]


@pytest.mark.postgres
def test_a_new_visitors_add_on_postgresql_is_one_statement_in_one_round_trip(db) -> None:  # type: ignore[no-untyped-def]
    # on the event loop every round trip stops the process's other requests: BEGIN, SET, two INSERTs
    # and COMMIT were five; now one statement that is its own transaction
    from sqlalchemy import event

    from store.cart import service
    from store.cart.service import CartRef, PlannedAdd
    from store.db import commit_writes, get_engine, unit_of_work
    from store.timeutil import utcnow

    sku = sku_of(db, make_product(db, colours="Black"))
    line = service._line_values(sku=sku, qty=2, article_id=None, now=utcnow())
    planned = PlannedAdd(CartRef(None, "one-statement-token"), sku, 2, line)
    sent: list[tuple[str, object]] = []

    def seen(conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        sent.append((statement, conn.get_execution_options().get("isolation_level")))

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", seen)
    try:
        with unit_of_work(engine, write=False) as session:
            added = commit_writes(session, lambda: service.write_add(session, planned))
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert len(sent) == 1
    statement, isolation = sent[0]
    assert statement.lstrip().startswith("WITH") and "set_config" in statement and isolation == "AUTOCOMMIT"
    assert (added.quantity, added.count) == (2, 2)
    with unit_of_work(engine, write=False) as session:
        cart = session.exec(select(Cart).where(Cart.token == "one-statement-token")).one()
        assert cart.id == added.cart.id
        lines = session.exec(select(CartLine).where(CartLine.cart_id == cart.id)).all()
        assert [(x.sku, x.quantity) for x in lines] == [(sku, 2)]


def test_a_new_visitors_add_writes_the_rows_the_orm_would(db) -> None:  # type: ignore[no-untyped-def]
    # on SQLite the two INSERTs run on the DB-API cursor (store.db.DriverInsert), on PostgreSQL as one
    # statement: either way the rows must read back as the ORM's own, dates stored in the same form
    from sqlalchemy import text

    from store.cart import service
    from store.cart.service import CartRef, PlannedAdd
    from store.db import commit_writes, get_engine, holds_write_lock, unit_of_work
    from store.timeutil import utcnow

    sku = sku_of(db, make_product(db, colours="Black"))
    article = Article(slug="a-story", title="A story")
    db.add(article)
    db.commit()
    now = utcnow()
    line = service._line_values(sku=sku, qty=3, article_id=article.id, now=now)
    engine = get_engine()

    def planned(token: str) -> PlannedAdd:
        return PlannedAdd(CartRef(None, token), sku, 3, line)

    if engine.dialect.name == "sqlite":
        # inside the unit's transaction and under the write gate: a unit that fails after the writes
        # leaves nothing, and lets the gate go (PostgreSQL's is a statement of its own, by design)
        def fail(session) -> None:  # type: ignore[no-untyped-def]
            service.write_add(session, planned("rolled-back-token"))
            assert holds_write_lock()
            raise RuntimeError("after the writes")

        with pytest.raises(RuntimeError), unit_of_work(engine, write=False) as session:
            commit_writes(session, lambda: fail(session))
        assert not holds_write_lock()
    with unit_of_work(engine, write=False) as session:
        added = commit_writes(session, lambda: service.write_add(session, planned("driver-token")))
    assert (added.quantity, added.count, added.cart.token) == (3, 3, "driver-token")

    db.rollback()
    assert db.exec(select(Cart).where(Cart.token == "rolled-back-token")).first() is None
    cart = db.exec(select(Cart).where(Cart.token == "driver-token")).one()
    assert cart.id == added.cart.id
    assert (cart.discount_code, cart.order_id, cart.round_up) == (None, None, False)
    assert cart.created_at == cart.updated_at == now
    [made] = db.exec(select(CartLine).where(CartLine.cart_id == cart.id)).all()
    assert (made.sku, made.quantity, made.article_id, made.created_at) == (sku, 3, article.id, now)
    db.add(Cart(token="orm-token", created_at=now, updated_at=now))
    db.commit()
    stored = dict(db.execute(text("SELECT token, created_at FROM cart WHERE token LIKE '%-token'")).all())
    assert stored == {"driver-token": stored["orm-token"], "orm-token": stored["orm-token"]}
    db.rollback()


def test_the_add_form_is_described_in_the_api_docs(client) -> None:  # type: ignore[no-untyped-def]
    # the handler reads its form itself (cheaper than FastAPI's Form parameters), so /docs is told
    from store.cart.routes import ADD_FIELDS

    docs = client.get("/openapi.json").json()
    body = docs["paths"]["/cart/add"]["post"]["requestBody"]
    schema = body["content"]["application/x-www-form-urlencoded"]["schema"]
    assert set(schema["properties"]) == {"csrf_token", *ADD_FIELDS}
    assert schema["required"] == ["csrf_token", "quantity"]
    assert "1 to 20" in schema["properties"]["quantity"]["description"]
