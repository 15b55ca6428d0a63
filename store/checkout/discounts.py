"""Discount codes: checking one against a cart, and consuming a use safely when an order is placed.

A use is consumed with one conditional UPDATE (uses = uses + 1 WHERE uses < usage_limit) in the
transaction that places the order: two shoppers racing for the last use cannot both win, on SQLite
(one writer) or PostgreSQL (the second UPDATE waits for the first, then re-checks the condition).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, time

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from store.cart.models import Cart
from store.checkout.models import Discount, DiscountUse
from store.checkout.pricing import DiscountRule
from store.errors import DomainError
from store.money import Money
from store.order.models import Order
from store.timeutil import utcnow

log = logging.getLogger("store.checkout")

FIELD = "discount_code"


def normalise(code: str) -> str:
    return "".join(code.split()).upper()[:40]


def rule_for(discount: Discount) -> DiscountRule:
    return DiscountRule(code=discount.code, percent_off=discount.percent_off, amount_off=discount.amount_off)


def find(session: Session, code: str) -> Discount | None:
    return session.exec(select(Discount).where(Discount.code == normalise(code))).first()


def check(
    discount: Discount | None, *, subtotal: int, now: datetime | None = None, held: bool = False
) -> Discount:
    """The discount if it may be used on goods worth `subtotal`; DomainError (field discount_code) if not.

    `held`: the shopper's own pending order already holds one of the uses, so that use is theirs and
    must not count against them (else a single-use code vanishes between checkout and payment).
    """
    now = now or utcnow()
    if discount is None or not discount.is_active:
        raise DomainError("We don't recognise that discount code.", field=FIELD)
    expires = discount.expires_at
    if expires is not None:
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)
        if expires <= now:
            raise DomainError("That discount code has expired.", field=FIELD)
    taken_by_others = discount.uses - (1 if held else 0)
    if discount.usage_limit is not None and taken_by_others >= discount.usage_limit:
        raise DomainError("That discount code has been used up.", field=FIELD)
    if subtotal < discount.min_spend:
        need = Money(discount.min_spend).format()
        raise DomainError(f"That code needs a spend of at least {need} before delivery.", field=FIELD)
    return discount


def holds(session: Session, *, discount: Discount, order_id: int | None) -> bool:
    """Whether order `order_id` holds a use of `discount`."""
    if order_id is None or discount.id is None:
        return False
    found = session.exec(
        select(DiscountUse.id).where(DiscountUse.order_id == order_id, DiscountUse.discount_id == discount.id)
    ).first()
    return found is not None


def check_for_cart(session: Session, *, cart: Cart | None, code: str, subtotal: int) -> Discount:
    """check() for a code in (or going into) `cart`: the use its pending order holds is its own.

    Every place that re-checks a cart's code goes through here: the cart page and "Apply", the
    checkout page, the payment page and placing the order again."""
    found = find(session, code)
    held = found is not None and cart is not None and holds(session, discount=found, order_id=cart.order_id)
    return check(found, subtotal=subtotal, held=held)


def consume(session: Session, *, discount: Discount, order: Order) -> None:
    """Take one use of `discount` for `order` (once per order). DomainError if none is left."""
    assert discount.id is not None and order.id is not None
    held = session.exec(select(DiscountUse).where(DiscountUse.order_id == order.id)).first()
    if held is not None:
        if held.discount_id == discount.id:
            return
        release(session, order=order)
    condition = [col(Discount.id) == discount.id]
    if discount.usage_limit is not None:
        condition.append(col(Discount.uses) < discount.usage_limit)
    result = session.execute(update(Discount).where(*condition).values(uses=col(Discount.uses) + 1))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        log.info("discount used up", extra={"code": discount.code, "order": order.number})
        raise DomainError("Sorry, that discount code has just been used up.", field=FIELD)
    session.add(DiscountUse(discount_id=discount.id, order_id=order.id))
    session.flush()
    log.info("discount consumed", extra={"code": discount.code, "order": order.number})


def release(session: Session, *, order: Order) -> bool:
    """Give back the use an unpaid order held (cancelled before payment, or its code removed).

    Idempotent: the use row is deleted by a conditional DELETE, and only the caller that deleted it
    gives the use back. Call it from the cancellation of a pending order. Returns True if released.
    """
    if order.id is None:
        return False
    held = session.exec(select(DiscountUse).where(DiscountUse.order_id == order.id)).first()
    if held is None:
        return False
    gone = session.execute(delete(DiscountUse).where(col(DiscountUse.id) == held.id))
    if gone.rowcount != 1:  # type: ignore[attr-defined]
        return False
    session.execute(
        update(Discount)
        .where(col(Discount.id) == held.discount_id, col(Discount.uses) > 0)
        .values(uses=col(Discount.uses) - 1)
    )
    log.info("discount released", extra={"order": order.number})
    return True


# --- staff ---------------------------------------------------------------------------------------


@dataclass
class DiscountForm:
    code: str = ""
    kind: str = "percent"  # "percent" or "amount"
    percent_off: str = ""
    amount_off: str = ""
    min_spend: str = ""
    expires: str = ""  # YYYY-MM-DD, valid until the end of that day (UTC)
    usage_limit: str = ""
    errors: dict[str, str] = field(default_factory=dict)


def _pounds(text: str, name: str, errors: dict[str, str], *, allow_empty: bool) -> int | None:
    if not text.strip():
        if not allow_empty:
            errors[name] = "Enter an amount in pounds, like 5.00"
        return None
    try:
        value = Money.from_major(text).amount
    except ValueError as exc:
        errors[name] = str(exc)
        return None
    if value < 0 or value > 100_000_00:
        errors[name] = "Enter an amount between £0 and £100,000."
        return None
    return value


def create_from_form(session: Session, *, form: DiscountForm) -> Discount | None:
    """A new code from the staff form, or None with form.errors filled in."""
    errors = form.errors
    code = normalise(form.code)
    form.code = code
    if not code:
        errors["code"] = "Enter a code, like SOLIDARITY10."
    elif not code.replace("-", "").replace("_", "").isalnum():
        errors["code"] = "Use letters, numbers, hyphens and underscores only."
    elif find(session, code) is not None:
        errors["code"] = "That code already exists."
    percent: int | None = None
    amount: int | None = None
    if form.kind == "amount" or (form.amount_off.strip() and not form.percent_off.strip()):
        form.kind = "amount"
        amount = _pounds(form.amount_off, "amount_off", errors, allow_empty=False)
        if amount is not None and amount < 1:
            errors["amount_off"] = "Enter more than £0."
    else:
        form.kind = "percent"
        text = form.percent_off.strip().rstrip("%")
        if not text.isdigit() or not 1 <= int(text) <= 100:
            errors["percent_off"] = "Enter a whole number from 1 to 100."
        else:
            percent = int(text)
    min_spend = _pounds(form.min_spend, "min_spend", errors, allow_empty=True) or 0
    expires_at: datetime | None = None
    if form.expires.strip():
        try:
            day = datetime.strptime(form.expires.strip(), "%Y-%m-%d").date()
            expires_at = datetime.combine(day, time(23, 59, 59), tzinfo=UTC)
        except ValueError:
            errors["expires"] = "Enter a date like 2026-12-31."
    limit: int | None = None
    if form.usage_limit.strip():
        text = form.usage_limit.strip()
        if not text.isdigit() or not 1 <= int(text) <= 1_000_000:
            errors["usage_limit"] = "Enter a whole number of uses, 1 or more, or leave it empty."
        else:
            limit = int(text)
    if errors:
        return None
    discount = Discount(
        code=code,
        percent_off=percent,
        amount_off=amount,
        min_spend=min_spend,
        expires_at=expires_at,
        usage_limit=limit,
    )
    session.add(discount)
    session.flush()
    return discount


def set_active(session: Session, *, discount_id: int, active: bool) -> Discount:
    discount = session.get(Discount, discount_id)
    if discount is None:
        from store.errors import NotFound

        raise NotFound("No such discount code.")
    discount.is_active = active
    session.add(discount)
    return discount


def all_discounts(session: Session) -> list[Discount]:
    return list(session.exec(select(Discount).order_by(col(Discount.created_at).desc())).all())
