"""POST /checkout prices the cart without the write lock, then writes only if the cart is unchanged.

Pricing under SQLite's write lock made every other writer wait ~30 ms a checkout in a rush
(bench/rush.py's gate stats). Both tests go through the checkout form, over HTTP.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from store.cart.models import CartLine
from store.checkout import service
from store.order.models import Order, OrderLine
from tests.conftest import soup
from tests.factories import add, checkout, make_product, sku_of
from tests.store.test_outside_calls import writer_can_commit


def orders(db: Session) -> list[Order]:
    db.rollback()  # a fresh snapshot: the app wrote through its own connection
    return list(db.exec(select(Order)).all())


def test_the_cart_is_priced_while_other_writers_can_commit(
    client: TestClient, db: Session, engine, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    plan = service.plan_order
    seen: list[tuple[bool, str]] = []

    def probed(session, **kw):  # type: ignore[no-untyped-def]
        planned = plan(session, **kw)
        seen.append(writer_can_commit(engine))  # after the pricing's reads, before the order's writes
        return planned

    monkeypatch.setattr(service, "plan_order", probed)
    add(client, sku_of(db, make_product(db, price="25.00", colours="Black")), 2)

    placed = checkout(client)

    assert (placed.status_code, placed.headers["location"]) == (303, "/checkout/pay")
    assert seen == [(True, "")]
    (order,) = orders(db)
    assert (order.subtotal, order.total) == (5000, 5000 + 399)


def test_a_cart_changed_while_its_order_was_priced_is_shown_again_and_nothing_is_written(
    client: TestClient, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    shirt = sku_of(db, make_product(db, price="25.00", colours="Black"))
    mug = sku_of(db, make_product(db, "Solidarity mug", price="10.00", colours="Black"))
    add(client, shirt, 1)
    plan = service.plan_order
    changed: list[int] = []

    def another_tab_adds_meanwhile(session, **kw):  # type: ignore[no-untyped-def]
        planned = plan(session, **kw)
        if not changed:  # once: as if the shopper added a mug in another tab just then
            changed.append(1)
            add(client, mug, 1)
        return planned

    monkeypatch.setattr(service, "plan_order", another_tab_adds_meanwhile)

    refused = checkout(client)

    assert refused.status_code == 422
    page = soup(refused.text)
    assert service.CART_CHANGED in page.get_text(" ", strip=True)
    assert page.select_one('[data-amount="total"]').get_text() == "£38.99"  # both, as the cart is now
    assert orders(db) == []
    # the shopper checks and sends the form again: the order has both
    placed = checkout(client)
    assert (placed.status_code, placed.headers["location"]) == (303, "/checkout/pay")
    (order,) = orders(db)
    lines = db.exec(select(OrderLine).where(OrderLine.order_id == order.id)).all()
    assert sorted((line.sku, line.quantity) for line in lines) == sorted([(shirt, 1), (mug, 1)])
    assert order.total == 3500 + 399
    assert len(db.exec(select(CartLine)).all()) == 2
