"""The last use of a discount code, wanted by two shoppers at once: exactly one gets it."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from store.cart.models import Cart
from store.checkout import service
from store.checkout.models import Discount, DiscountUse
from store.errors import DomainError
from store.order.models import Order
from tests.conftest import csrf_from, soup
from tests.factories import ADDRESS, add, make_product, pay_by_card, sku_of
from tests.fakes.localstripe import list_payment_intents

PAID = {"paid", "submitted"}  # and perhaps handed to the (manual) provider by the inline queue


def test_two_shoppers_race_for_the_last_use_exactly_one_gets_it_and_the_other_pays_full_price(
    stripe_env, app, db
) -> None:  # type: ignore[no-untyped-def]
    """Through HTTP, on SQLite and PostgreSQL: both apply the code, both press "Continue to payment"
    at once; one pays the discounted total, the other is told next to "Discount code" (422, the
    details kept) and then pays full price. Never two discounted orders."""
    # given a code with one use left, applied in two shoppers' carts
    sku = sku_of(db, make_product(db, price="25.00", colours="Black"))
    db.add(Discount(code="LASTONE", percent_off=50, usage_limit=3, uses=2))
    db.commit()
    shoppers = [TestClient(app, raise_server_exceptions=False) for _ in range(2)]
    forms: list[dict[str, str]] = []
    for shopper in shoppers:
        add(shopper, sku, 1)
        token = csrf_from(shopper.get("/cart").text)
        applied = shopper.post("/cart/discount", data={"csrf_token": token, "discount_code": "LASTONE"})
        assert applied.status_code == 200
        forms.append({"csrf_token": csrf_from(shopper.get("/checkout").text), **ADDRESS})
    # when both press "Continue to payment" at the same moment
    barrier = threading.Barrier(2)
    answers: list[Any] = [None, None]

    def go(i: int) -> None:
        barrier.wait()
        answers[i] = shoppers[i].post("/checkout", data=forms[i], follow_redirects=False)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    # then exactly one goes on to payment, and the other is told beside "Discount code"
    assert sorted(a.status_code for a in answers) == [303, 422]
    winner = shoppers[[a.status_code for a in answers].index(303)]
    loser_answer = answers[[a.status_code for a in answers].index(422)]
    loser = shoppers[[a.status_code for a in answers].index(422)]
    page = soup(loser_answer.text)
    assert page.select_one("#f-discount_code-error").get_text(strip=True) in {
        "Sorry, that discount code has just been used up.",
        "That discount code has been used up.",
    }
    for name in ("email", "full_name", "address_line1", "town"):
        assert page.select_one(f"#f-{name}")["value"] == ADDRESS[name]
    assert page.select_one("#f-postcode")["value"] == "LS1 4AP"
    # the winner pays the discounted total: £25.00 - 50 % + £3.99 delivery
    assert pay_by_card(winner, stripe_env).json()["status"] == "succeeded"
    # the loser continues again, without the code, and pays full price
    again = loser.post(
        "/checkout", data={**forms[0], "csrf_token": csrf_from(loser.get("/checkout").text)}, follow_redirects=False
    )
    assert (again.status_code, again.headers["location"]) == (303, "/checkout/pay")
    assert pay_by_card(loser, stripe_env).json()["status"] == "succeeded"
    # never two discounted orders, and the code is used exactly up to its limit
    db.rollback()
    assert db.exec(select(Discount.uses)).one() == 3
    assert len(db.exec(select(DiscountUse)).all()) == 1
    orders = db.exec(select(Order).order_by(Order.total)).all()
    assert [(o.status in PAID, o.discount_code, o.total) for o in orders] == [
        (True, "LASTONE", 1250 + 399),
        (True, None, 2500 + 399),
    ]
    assert sorted(i["amount"] for i in list_payment_intents(stripe_env)) == [1649, 2899]
    for shopper in shoppers:
        shopper.close()


@pytest.mark.postgres
def test_second_transaction_waits_for_the_first_then_finds_no_use_left(engine, db) -> None:  # type: ignore[no-untyped-def]
    # given two carts with the last use of a code applied
    sku = sku_of(db, make_product(db, price="25.00", colours="Black"))
    db.add(Discount(code="SOLO", amount_off=500, usage_limit=1))
    carts = [Cart(token=f"race-{i}", discount_code="SOLO") for i in range(2)]
    db.add_all(carts)
    db.commit()
    from store.cart.models import CartLine

    db.add_all([CartLine(cart_id=c.id, sku=sku, quantity=1) for c in carts])
    db.commit()
    cart_ids = [c.id for c in carts]
    form = service.AddressForm(**{k: v for k, v in ADDRESS.items()})
    form.postcode = "LS1 4AP"
    first_consumed = threading.Event()
    release_first = threading.Event()
    outcome: dict[str, str] = {}

    def first() -> None:
        with Session(engine, expire_on_commit=False) as s:
            service.place_order(s, cart=s.get(Cart, cart_ids[0]), form=form)
            first_consumed.set()
            release_first.wait(10)
            s.commit()
            outcome["first"] = "placed"

    def second() -> None:
        first_consumed.wait(10)
        with Session(engine, expire_on_commit=False) as s:
            try:
                service.place_order(s, cart=s.get(Cart, cart_ids[1]), form=form)  # blocks on the row lock
                s.commit()
                outcome["second"] = "placed"
            except DomainError as exc:
                s.rollback()
                outcome["second"] = exc.message

    t1, t2 = threading.Thread(target=first), threading.Thread(target=second)
    t1.start()
    t2.start()
    first_consumed.wait(10)
    t2.join(0.5)
    assert t2.is_alive(), "the second UPDATE should wait for the first transaction"
    release_first.set()
    t1.join(10)
    t2.join(10)
    assert outcome == {"first": "placed", "second": "Sorry, that discount code has just been used up."}
    db.rollback()
    assert db.exec(select(Discount.uses)).one() == 1
