"""Paying for an order by card (card-payment.js's two endpoints), in the shape of store/order/refunds.py:
record the attempt and its idempotency key and COMMIT; ask Stripe outside any transaction; record the
answer in a new short transaction. `setup_card` and `pay_order` own their transactions and return a
small typed outcome; the routes only turn outcomes into JSON.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from store.cart import service as carts
from store.cart.models import Cart
from store.checkout.models import PaymentAttempt
from store.checkout.service import complete_url
from store.db import unit_of_work
from store.errors import Conflict, DomainError
from store.money import Money
from store.order import service as orders
from store.order.models import Order, OrderStatus, Payment
from store.order.notifications import render_confirmation
from store.payment import (
    PaymentError,
    PaymentMethodRefused,
    PaymentResult,
    PaymentUnavailable,
    create_setup_intent,
    pay,
    retrieve_payment,
)
from store.timeutil import utcnow

log = logging.getLogger("store.checkout")

GENERIC_PAY_ERROR = "Something went wrong and you have not been charged. Please try again."
UNAVAILABLE_MESSAGE = "We couldn't reach our card processor just now. Please try again in a moment."
EXPIRED_MESSAGE = "Your order has expired. Please go back to your cart."
CARD_NOT_KNOWN = "Your card details didn't come through. Please enter your card again."
ORDER_CANCELLED = "This order was cancelled. Please start again from your cart."
SETTLED_STATUSES = frozenset(OrderStatus) - {OrderStatus.pending_payment, OrderStatus.cancelled}
IN_FLIGHT_WINDOW = timedelta(seconds=30)

# succeeded / requires_action / failed: what Stripe said about the card (the page shows it); the rest
# refuse before, or instead of, a charge: bad input, no such order, a conflict, Stripe unreachable.
PayStatus = Literal[
    "succeeded", "requires_action", "failed", "bad_input", "expired", "conflict", "unavailable", "error"
]


@dataclass(frozen=True)
class PayOutcome:
    status: PayStatus
    message: str = ""
    redirect: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    payment_intent: str | None = None
    stripe_refused: bool = False  # bad input that Stripe itself refused (an unknown payment method)


@dataclass(frozen=True)
class SetupOutcome:
    status: Literal["ready", "succeeded", "expired", "conflict", "unavailable"]
    client_secret: str | None = field(default=None, repr=False)
    redirect: str | None = None
    message: str = ""


# --- the flows (each owns its transactions) ------------------------------------------------------


def setup_card(*, order_token: str, engine: Engine | None = None) -> SetupOutcome:
    """A SetupIntent for the page's confirmCardSetup, for an order that can still be paid."""
    with unit_of_work(engine, write=False) as session:
        found = _order_by_token(session, order_token)
        if found is None:
            return SetupOutcome("expired", message=EXPIRED_MESSAGE)
        if found.status != OrderStatus.pending_payment:
            settled = _settled(found)
            return SetupOutcome(
                "succeeded" if settled.status == "succeeded" else "conflict",
                redirect=settled.redirect,
                message=settled.message,
            )
    try:
        setup = create_setup_intent()
    except PaymentError:
        return SetupOutcome("unavailable", message=UNAVAILABLE_MESSAGE)
    return SetupOutcome("ready", client_secret=setup.client_secret)


def pay_order(
    *,
    order_token: str,
    amount: str,
    payment_method: str = "",
    payment_intent: str = "",
    engine: Engine | None = None,
) -> PayOutcome:
    """Pay with a pm_… (a new attempt, or the same one again), or, after 3-D Secure, ask Stripe how
    the order's own intent ended. The same pm_… always replays the same key: never two charges."""
    payment_method = payment_method.strip()[:120]
    payment_intent = payment_intent.strip()[:120]
    if not payment_method.startswith("pm_") and not payment_intent.startswith("pi_"):
        return PayOutcome("bad_input", GENERIC_PAY_ERROR)
    # 1. The attempt and its idempotency key, committed before Stripe hears of it.
    begun = _begin(order_token, amount.strip(), payment_method, payment_intent, engine)
    if isinstance(begun, PayOutcome):
        return begun
    # 2. Stripe, outside any transaction.
    try:
        if payment_intent:
            result = retrieve_payment(payment_intent)
        else:
            result = pay(
                amount=begun.charge,
                payment_method=payment_method,
                idempotency_key=begun.key,
                metadata={"order_number": begun.number},
            )
    except PaymentMethodRefused:
        with unit_of_work(engine) as session:
            _refuse_attempt(session, payment_id=begun.payment_id, message=CARD_NOT_KNOWN)
        log.info("payment method unknown to stripe", extra={"order": begun.number, "key": begun.key})
        return PayOutcome("bad_input", CARD_NOT_KNOWN, stripe_refused=True)
    except PaymentUnavailable:
        return PayOutcome("unavailable", UNAVAILABLE_MESSAGE)
    except PaymentError:
        log.exception("payment refused by stripe", extra={"order": begun.number, "key": begun.key})
        return PayOutcome("error", GENERIC_PAY_ERROR)
    # 3. What it said: paid (the one idempotent path), needs 3-D Secure, or declined. Every write in
    # it is conditional or Stripe's own answer, so the reads (and the email's rendering) need no lock:
    # on SQLite the lock is taken at the first write.
    with unit_of_work(engine, write=False) as session:
        order = session.get(Order, begun.order_id)
        payment = session.get(Payment, begun.payment_id)
        assert order is not None and payment is not None
        return record_result(session, order=order, payment=payment, result=result)


@dataclass(frozen=True)
class _Begun:
    order_id: int
    payment_id: int
    number: str
    key: str
    charge: Money


def _order_by_token(session: Session, token: str) -> Order | None:
    return session.exec(select(Order).where(Order.token == token)).first() if token else None


def _settled(order: Order) -> PayOutcome:
    if order.status in SETTLED_STATUSES:
        return PayOutcome("succeeded", redirect=complete_url(order))
    return PayOutcome("conflict", ORDER_CANCELLED)


def _begin(
    order_token: str, amount: str, payment_method: str, payment_intent: str, engine: Engine | None
) -> _Begun | PayOutcome:
    for _ in range(2):
        try:
            with unit_of_work(engine) as session:
                found = _order_by_token(session, order_token)
                if found is None:
                    return PayOutcome("expired", EXPIRED_MESSAGE)
                if found.status != OrderStatus.pending_payment:
                    return _settled(found)
                if amount != str(found.total):
                    return PayOutcome(
                        "conflict", "Your order changed in another window. Please reload this page."
                    )
                if payment_intent:
                    payment = payment_for_intent(session, order=found, intent_id=payment_intent)
                    if payment is None:
                        log.warning(
                            "intent not of this order",
                            extra={"order": found.number, "intent": payment_intent},
                        )
                        return PayOutcome("bad_input", GENERIC_PAY_ERROR)
                else:
                    payment = begin_attempt(session, order=found, payment_method=payment_method)
                assert found.id is not None and payment.id is not None
                return _Begun(
                    found.id,
                    payment.id,
                    found.number,
                    payment.idempotency_key,
                    Money(payment.amount, payment.currency),
                )
        except Conflict as exc:
            return PayOutcome("conflict", exc.message)
        except DomainError as exc:
            return PayOutcome("bad_input", exc.message)
        except IntegrityError:  # the same pm_… raced in from a double click: read the winner's attempt
            continue
    return PayOutcome("conflict", GENERIC_PAY_ERROR)


# --- the rules (take a session, never commit) ----------------------------------------------------


def begin_attempt(session: Session, *, order: Order, payment_method: str) -> Payment:
    """The Payment (with its idempotency key) for paying `order` with `payment_method`.

    The same pm_… always gets the same attempt, so the same key: Stripe answers a repeat with the
    same intent and never charges twice. A new pm_… is a new attempt `order-{number}-pay-{n}`.
    """
    assert order.id is not None
    known = session.exec(
        select(PaymentAttempt).where(PaymentAttempt.payment_method == payment_method)
    ).first()
    if known is not None:
        if known.order_id != order.id:
            raise DomainError("That card was set up for another order. Please enter your card again.")
        payment = session.get(Payment, known.payment_id)
        assert payment is not None
        return payment
    cutoff = utcnow() - IN_FLIGHT_WINDOW
    for earlier in session.exec(
        select(Payment).where(Payment.order_id == order.id, Payment.status == "created")
    ):
        created_at = (
            earlier.created_at
            if earlier.created_at.tzinfo
            else earlier.created_at.replace(tzinfo=cutoff.tzinfo)
        )
        if created_at > cutoff:
            raise Conflict(
                "We're still waiting to hear about your last payment attempt. "
                "Please try again in a few seconds."
            )
    attempts = session.exec(select(PaymentAttempt.attempt).where(PaymentAttempt.order_id == order.id)).all()
    number = max(attempts, default=0) + 1
    payment = Payment(
        order_id=order.id,
        idempotency_key=f"order-{order.number}-pay-{number}",
        amount=order.total,
        currency=order.currency,
        status="created",
    )
    session.add(payment)
    session.flush()
    assert payment.id is not None
    session.add(
        PaymentAttempt(
            order_id=order.id, attempt=number, payment_method=payment_method, payment_id=payment.id
        )
    )
    session.flush()
    log.info(
        "payment attempt", extra={"order": order.number, "attempt": number, "key": payment.idempotency_key}
    )
    return payment


def payment_for_intent(session: Session, *, order: Order, intent_id: str) -> Payment | None:
    """The attempt of THIS order that created `intent_id`, or None (then the page must not be trusted)."""
    return session.exec(
        select(Payment).where(Payment.intent_id == intent_id, Payment.order_id == order.id)
    ).first()


def _refuse_attempt(session: Session, *, payment_id: int, message: str) -> None:
    """Stripe never took the payment method: the attempt is over, not in flight; nothing was charged."""
    payment = session.get(Payment, payment_id)
    assert payment is not None
    if payment.status == "created":
        payment.status = "failed"
        payment.failure_message = message
        payment.updated_at = utcnow()
        session.add(payment)


def record_result(session: Session, *, order: Order, payment: Payment, result: PaymentResult) -> PayOutcome:
    """Record what Stripe said about an attempt; a success goes through orders.mark_paid (the one path)."""
    # The confirmation email is rendered before the first write: on SQLite the write lock is then held
    # for the statements only (rendering it inside cost the lock ~10 ms a payment in bench/rush.py).
    confirmation = (
        render_confirmation(session, order=order)
        if result.status == "succeeded" and order.status == OrderStatus.pending_payment
        else None
    )
    if result.intent_id and payment.intent_id is None:
        payment.intent_id = result.intent_id
    payment.status = result.status
    payment.failure_message = result.decline_message or ""
    payment.updated_at = utcnow()
    session.add(payment)
    session.flush()
    if result.status == "succeeded":
        assert result.intent_id is not None
        orders.mark_paid(
            session,
            order=order,
            intent_id=result.intent_id,
            amount=result.amount.amount,
            actor="checkout",
            confirmation=confirmation,
        )
        session.refresh(order)
        if order.status == OrderStatus.cancelled:  # mark_paid has flagged it for a refund
            return PayOutcome(
                "failed",
                "This order was cancelled before your payment arrived. We'll refund it in full; "
                "please don't pay again.",
            )
        if order.status == OrderStatus.pending_payment:
            log.error("payment succeeded but the order is not paid", extra={"order": order.number})
            return PayOutcome(
                "failed",
                "We received your payment but need to check it. We'll email you shortly; "
                "please don't pay again.",
            )
        for cart in session.exec(select(Cart).where(Cart.order_id == order.id)).all():
            carts.clear(session, cart=cart)
        return PayOutcome("succeeded", redirect=complete_url(order))
    if result.status == "requires_action":
        return PayOutcome(
            "requires_action", client_secret=result.client_secret, payment_intent=result.intent_id
        )
    if result.status == "processing":
        return PayOutcome("succeeded", redirect=complete_url(order))
    orders.record_payment_failed(
        session,
        order=order,
        intent_id=result.intent_id,
        message=result.decline_message or "",
        actor="checkout",
    )
    return PayOutcome("failed", result.decline_message or "Your card was declined.")
