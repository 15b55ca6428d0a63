"""Cart rules: the signed cookie, adding and changing lines, and pricing them from the catalogue.

The browser holds only a signed reference (and a cached item count for the header); a tampered or
stale cookie is simply no cart. Prices are never stored here: every render asks the catalogue.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import Connection, Engine, Insert, bindparam, delete, func, insert, update
from sqlmodel import Session, col, select

from catalog import repository as catalog_repository
from catalog import service as catalog
from catalog.models import Product, Variant
from store.cart.models import MAX_QUANTITY, Cart, CartLine
from store.config import get_settings
from store.db import DriverInsert, insert_unless_present, on_commit
from store.errors import DomainError
from store.money import Money
from store.order.models import Order, OrderStatus
from store.timeutil import utcnow
from store.web import set_cookie

log = logging.getLogger("store.cart")

CART_COOKIE = "rrm_cart"
CART_COOKIE_MAX_AGE = 60 * 60 * 24 * 30
QUANTITY_MESSAGE = f"Choose a quantity from 1 to {MAX_QUANTITY}."


# --- the cookie ----------------------------------------------------------------------------------


def _serializer() -> URLSafeSerializer:
    return _signer(get_settings().secret_key)


@lru_cache(maxsize=4)
def _signer(secret_key: str) -> URLSafeSerializer:
    # Built once per key: building one costs more than signing (~35 µs), and the cart cookie is read
    # on every page a shopper with a cart sees, cached pages included.
    return URLSafeSerializer(secret_key, salt="cart")


def encode_cookie(token: str, count: int) -> str:
    return _serializer().dumps([token, count])


def decode_cookie(raw: str | None) -> tuple[str, int] | None:
    """(cart token, cached item count) from the cookie, or None for a missing or tampered one."""
    if not raw:
        return None
    try:
        value = _serializer().loads(raw)
    except (BadSignature, ValueError, TypeError):
        return None
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not isinstance(value[0], str)
        or not isinstance(value[1], int)
        or isinstance(value[1], bool)
    ):
        return None
    return value[0], max(0, min(value[1], 10_000))


@dataclass(frozen=True, slots=True)
class CartRef:
    """Which cart, without loading it (add to cart's answer, the cookie of a cart just paid for)."""

    id: int | None
    token: str


def set_cart_cookie(request: Request, response: Response, cart: Cart | CartRef | None, count: int) -> None:
    """Point the browser at `cart` and cache its count for the header (also for this request)."""
    request.state.cart_count = count
    if cart is None:
        return
    set_cookie(response, CART_COOKIE, encode_cookie(cart.token, count), max_age=CART_COOKIE_MAX_AGE)


# --- loading -------------------------------------------------------------------------------------


def cart_for_request(session: Session, request: Request) -> Cart | None:
    decoded = decode_cookie(request.cookies.get(CART_COOKIE))
    if decoded is None:
        return None
    cart = session.exec(select(Cart).where(Cart.token == decoded[0])).first()
    if cart is not None:
        settle(session, cart=cart)
    return cart


def settle(session: Session, *, cart: Cart) -> None:
    """A cart whose order was paid (here or by the webhook) has been bought: empty it.
    One whose order was cancelled forgets that order and keeps its lines.

    Conditional on the cart still pointing at the order this request saw, so pages that read
    without the write lock (GET /cart, /checkout) may call it: a checkout in another tab that has
    moved the cart on to a new order since is left alone."""
    seen = cart.order_id
    if seen is None:
        return
    status = session.exec(select(Order.status).where(Order.id == seen)).first()
    if status == OrderStatus.pending_payment:
        return
    bought = status is not None and status != OrderStatus.cancelled
    values: dict[str, object] = {"order_id": None}
    if bought:
        values.update(discount_code=None, round_up=False, updated_at=utcnow())
    moved = session.execute(
        update(Cart).where(col(Cart.id) == cart.id, col(Cart.order_id) == seen).values(**values)
    )
    if moved.rowcount == 1 and bought:  # type: ignore[attr-defined]
        session.execute(delete(CartLine).where(col(CartLine.cart_id) == cart.id))
    session.refresh(cart)


def clear(session: Session, *, cart: Cart) -> None:
    assert cart.id is not None
    session.execute(delete(CartLine).where(col(CartLine.cart_id) == cart.id))
    cart.discount_code = None
    cart.order_id = None
    cart.round_up = False
    cart.updated_at = utcnow()
    session.add(cart)


def lines(session: Session, cart: Cart) -> list[CartLine]:
    return list(
        session.exec(select(CartLine).where(CartLine.cart_id == cart.id).order_by(col(CartLine.id))).all()
    )


def item_count(session: Session, cart: Cart | CartRef | None) -> int:
    if cart is None or cart.id is None:
        return 0
    total = session.exec(select(func.sum(CartLine.quantity)).where(CartLine.cart_id == cart.id)).one()
    return int(total or 0)


# --- changing ------------------------------------------------------------------------------------


def parse_quantity(raw: object) -> int:
    """1..MAX_QUANTITY from a form value; DomainError (field quantity) for anything else."""
    text = str(raw).strip() if isinstance(raw, str | int) and not isinstance(raw, bool) else ""
    if not text or len(text) > 3 or not text.isdigit():
        raise DomainError(QUANTITY_MESSAGE, field="quantity")
    value = int(text)
    if not 1 <= value <= MAX_QUANTITY:
        raise DomainError(QUANTITY_MESSAGE, field="quantity")
    return value


def _article_id(session: Session, slug: str | None) -> int | None:
    if not slug:
        return None
    from store.news.models import Article

    return session.exec(select(Article.id).where(Article.slug == slug.strip()[:160])).first()


@dataclass(frozen=True, slots=True)
class Added:
    cart: CartRef
    sku: str
    quantity: int  # of this item in the cart now
    count: int  # items in the whole cart, for the header's mini-cart


class AddRefused(DomainError):
    """ "Add to cart" said no: each message by its field ("quantity", "size", "colour"), or "add" for
    the item as a whole (not for sale, that combination unavailable, an unknown SKU)."""

    status_code = 422

    def __init__(self, errors: dict[str, str]) -> None:
        field, message = next(iter(errors.items()))
        super().__init__(message, field=field)
        self.errors = errors


UNAVAILABLE_MESSAGE = "Sorry, that item isn't available. Please choose another size or colour."
CHOOSE_SIZE = "Choose a size from the list."
CHOOSE_COLOUR = "Choose a colour from the list."


def check_add(
    session: Session,
    *,
    quantity: object,
    sku: str | None = None,
    product_slug: str | None = None,
    options: dict[str, str] | None = None,
) -> tuple[int, str]:
    """The quantity and the SKU of the purchasable variant (by SKU, which wins, or by product +
    options) an add asks for; AddRefused naming every field that is wrong. Reads only."""
    errors: dict[str, str] = {}
    qty = 0
    try:
        qty = parse_quantity(quantity)
    except DomainError as exc:
        errors["quantity"] = exc.message
    found: str | None = None
    if sku and sku.strip():
        found = catalog.purchasable_sku(session, sku.strip()[:64])
        if found is None:
            errors["add"] = UNAVAILABLE_MESSAGE
    elif product_slug and product_slug.strip():
        wanted = {k: v.strip() for k, v in (options or {}).items() if v and v.strip()}
        pair = catalog.resolve_variant(session, product_slug=product_slug.strip(), options=wanted)
        if pair is None:
            errors.update(_why_not(session, product_slug.strip(), wanted))
        else:
            found = pair[1].sku
    else:
        errors["add"] = UNAVAILABLE_MESSAGE
    if errors or found is None:
        raise AddRefused(errors)
    return qty, found


def _why_not(session: Session, product_slug: str, wanted: dict[str, str]) -> dict[str, str]:
    """Which choice made catalog.resolve_variant find nothing: an option the product doesn't have
    (beside its field), or a combination that isn't for sale (for the item as a whole)."""
    product = catalog_repository.product_by_slug(session, product_slug)
    if product is None or product.id is None or not product.is_published:
        return {"add": "Sorry, that item isn't for sale any more."}
    variants = catalog_repository.variants_for(session, [product.id]).get(product.id, [])
    errors: dict[str, str] = {}
    for name, message in (("size", CHOOSE_SIZE), ("colour", CHOOSE_COLOUR)):
        offered = {value.lower() for value in catalog.option_values(variants, name)}
        if offered and wanted.get(name, "").lower() not in offered:
            errors[name] = message
    return errors or {"add": UNAVAILABLE_MESSAGE}


@dataclass(frozen=True, slots=True)
class PlannedAdd:
    """What an add to cart will write, read and checked beforehand: `plan_add`, then `write_add`.
    Two adds to one cart at once (a double click) both count, on SQLite and PostgreSQL alike."""

    cart: CartRef  # the visitor's, or a new one (no id yet) made by `write_add`
    sku: str
    quantity: int
    line: dict[str, Any]  # the new line's columns, but for its cart


def plan_add(
    session: Session,
    request: Request,
    *,
    quantity: object,
    sku: str | None = None,
    product_slug: str | None = None,
    options: dict[str, str] | None = None,
    from_article: str | None = None,
) -> PlannedAdd:
    """Everything an add reads and checks (AddRefused when it may not happen), made ready so that
    under the write lock only the statements run."""
    qty, chosen = check_add(session, quantity=quantity, sku=sku, product_slug=product_slug, options=options)
    article_id = _article_id(session, from_article)
    now = utcnow()
    found = cart_for_request(session, request)
    # A new cart is only a token until `write_add` inserts it (building the model cost more than that).
    cart = CartRef(found.id, found.token) if found is not None else CartRef(None, secrets.token_urlsafe(24))
    return PlannedAdd(cart, chosen, qty, _line_values(sku=chosen, qty=qty, article_id=article_id, now=now))


def write_add(session: Session, planned: PlannedAdd) -> Added:
    """The writes of an add: a new cart and its line (two plain INSERTs; one statement on PostgreSQL),
    or one conditional upsert of the visitor's line and a touch of the cart, so on SQLite the write
    lock is held for two or three statements."""
    bind = session.get_bind()
    postgres = bind.dialect.name == "postgresql"
    cart, line, now = planned.cart, planned.line, planned.line["created_at"]
    if cart.id is None and postgres:
        # A new visitor's first add (most adds in a rush): ONE round trip to PostgreSQL, a statement
        # that is its own transaction, where BEGIN, SET, two INSERTs and COMMIT were five; each of them
        # stopped the event loop (store.db.run_writing_unit). The unit has written nothing else, so
        # committing this on its own is committing the unit.
        assert isinstance(bind, Engine)  # a unit of work's session (store.db.new_session)
        new_cart = _new_cart_values(token=cart.token, now=now)
        with bind.connect().execution_options(isolation_level="AUTOCOMMIT") as own:
            cart_id, in_line = own.execute(_NEW_CART_AND_LINE, {**line, **new_cart}).one()
        return _added(session, planned, CartRef(cart_id, cart.token), in_line, in_line)
    if cart.id is None:
        # A new visitor's first add on SQLite (most adds in a rush): two INSERTs run straight on the
        # DB-API cursor, since on SQLite every writer of the machine waits while they run (the gate's
        # hold per add 0.4–0.5 ms against 0.8–1.1 ms through Core, same wrk runs; bench/README.md,
        # stop 24). A new cart has no line to add to, so its line is a plain INSERT.
        insert_cart, insert_line = _driver_inserts(bind.dialect)
        cart = CartRef(insert_cart.run(session, _new_cart_values(token=cart.token, now=now)), cart.token)
        insert_line.run(session, {**line, "cart_id": cart.id})
        return _added(session, planned, cart, line["quantity"], line["quantity"])
    conn = session.connection()
    if postgres:
        conn.exec_driver_sql(_NOT_WAITING_FOR_THE_DISK)
    in_line = _put_line(conn, cart_id=cart.id, line=line)
    conn.execute(_TOUCH_CART, {"c_id": cart.id, "now": now})
    return _added(session, planned, cart, in_line, item_count(session, cart))


def _added(session: Session, planned: PlannedAdd, cart: CartRef, in_line: int, count: int) -> Added:
    if log.isEnabledFor(logging.DEBUG):  # the access log has every add; this line costs 4 % of one
        facts = {"cart": cart.id, "sku": planned.sku, "quantity": planned.quantity}
        on_commit(session, lambda: log.debug("cart add", extra=facts))  # logged once it is true
    return Added(cart, planned.sku, in_line, count)


# The hot path of a rush: Core statements built once (no ORM statement is built per request), all
# conditional, so nothing needs reading first under the write lock.
# A cart line is not money: on PostgreSQL its commit need not wait for the WAL to reach the disk (a
# crash in the next ~0.2 s could lose the add, never corrupt anything; PostgreSQL's asynchronous
# commit). Orders, payments and everything else keep waiting. Halves an add's time on the event loop.
_NOT_WAITING_FOR_THE_DISK = "SET LOCAL synchronous_commit TO OFF"
_carts, _lines = Cart.__table__, CartLine.__table__  # type: ignore[attr-defined]


def _new_cart_and_line() -> Insert:
    """PostgreSQL: the setting above, a new cart and its first line in ONE statement (data-modifying
    CTEs; the setting by set_config, local to the statement's own transaction). Parameters: the keys of
    `_new_cart_values` and `_line_values` (both have created_at, the same moment)."""

    def given(table: Any, names: list[str]) -> list[Any]:
        return [bindparam(name, type_=table.c[name].type) for name in names]

    unhurried = select(func.set_config("synchronous_commit", "off", True).label("setting")).cte("unhurried")
    cart_columns = ["token", "discount_code", "order_id", "round_up", "created_at", "updated_at"]
    new_cart = (
        insert(_carts)
        .from_select(cart_columns, select(*given(_carts, cart_columns)).select_from(unhurried))
        .returning(_carts.c.id)
        .cte("new_cart")
    )
    line_columns = ["sku", "quantity", "article_id", "created_at"]
    return (
        insert(_lines)
        .from_select(["cart_id", *line_columns], select(new_cart.c.id, *given(_lines, line_columns)))
        .returning(_lines.c.cart_id, _lines.c.quantity)
    )


_NEW_CART_AND_LINE = _new_cart_and_line()


@lru_cache(maxsize=4)
def _driver_inserts(dialect: Any) -> tuple[DriverInsert, DriverInsert]:
    """SQLite: a new cart (the keys of `_new_cart_values`) and its first line (`_line_values`)."""
    now = utcnow()
    cart_columns = list(_new_cart_values(token="", now=now))
    line_columns = list(_line_values(sku="", qty=1, article_id=None, now=now))
    return DriverInsert(_carts, cart_columns, dialect), DriverInsert(_lines, line_columns, dialect)


_TOUCH_CART = update(_carts).where(_carts.c.id == bindparam("c_id")).values(updated_at=bindparam("now"))
_ADD_TO_LINE = (
    update(_lines)
    .where(
        _lines.c.cart_id == bindparam("c_id"),
        _lines.c.sku == bindparam("c_sku"),
        _lines.c.quantity + bindparam("qty") <= MAX_QUANTITY,
    )
    .values(
        quantity=_lines.c.quantity + bindparam("qty"),
        article_id=func.coalesce(_lines.c.article_id, bindparam("article")),
    )
    .returning(_lines.c.quantity)
)
_NEW_LINE: dict[
    str, Any
] = {}  # per dialect: INSERT … ON CONFLICT (cart_id, sku) DO NOTHING RETURNING quantity


# A new row's columns, written out: building the model to read its defaults cost more than the
# INSERT itself. tests/store/cart/test_cart.py checks they match the models' defaults.
def _new_cart_values(*, token: str, now: datetime) -> dict[str, Any]:
    return {
        "token": token,
        "discount_code": None,
        "order_id": None,
        "round_up": False,
        "created_at": now,
        "updated_at": now,
    }


def _line_values(*, sku: str, qty: int, article_id: int | None, now: datetime) -> dict[str, Any]:
    """A new line's columns, but for its cart."""
    return {"cart_id": 0, "sku": sku, "quantity": qty, "article_id": article_id, "created_at": now}


def _put_line(conn: Connection, *, cart_id: int, line: dict[str, Any]) -> int:
    """Add the line's quantity to the cart's line for its SKU, or make the line (`line`: from
    `_line_values`). Returns the line's quantity now."""
    dialect = conn.dialect.name
    if dialect not in _NEW_LINE:
        _NEW_LINE[dialect] = insert_unless_present(
            conn, _lines, unique=["cart_id", "sku"], values={}
        ).returning(_lines.c.quantity)
    values = {**line, "cart_id": cart_id}
    sku, qty, article_id = line["sku"], line["quantity"], line["article_id"]
    for _ in range(2):
        more = conn.execute(
            _ADD_TO_LINE, {"c_id": cart_id, "c_sku": sku, "qty": qty, "article": article_id}
        ).scalar_one_or_none()
        if more is not None:
            return int(more)
        made = conn.execute(_NEW_LINE[dialect], values).scalar_one_or_none()
        if made is not None:
            return int(made)
        have = conn.execute(
            select(_lines.c.quantity).where(_lines.c.cart_id == cart_id, _lines.c.sku == sku)
        ).scalar_one_or_none()
        if have is not None and have + qty > MAX_QUANTITY:
            message = f"You already have {have} of these in your cart; the most per item is {MAX_QUANTITY}."
            raise AddRefused({"quantity": message})
        # else another request made the line between our two statements: add to it
    raise DomainError("Your cart changed while we were adding this. Please try again.")


def product_for_form(
    session: Session, *, sku: str | None, product_slug: str | None
) -> tuple[Product, dict[str, str]] | None:
    """The published product whose "Add to cart" form an add came from, and the options its SKU
    names (when it was added by SKU); None when there is no such form to show again."""
    if sku and sku.strip():
        found = catalog_repository.variant_by_sku(session, sku.strip()[:64])
        if found is not None and found[0].is_published:
            return found[0], dict(found[1].options)
        return None
    product = catalog_repository.product_by_slug(session, (product_slug or "").strip()[:160])
    return (product, {}) if product is not None and product.is_published else None


def added_message(session: Session, added: Added) -> str:
    """ "Added to your cart: No War t-shirt, M / Black (2 in total)." """
    found = catalog_repository.variant_by_sku(session, added.sku)
    if found is None:
        return f"Added to your cart ({added.quantity} in total)."
    product, variant = found
    options = " / ".join(str(v) for v in variant.options.values())
    what = f"{product.title}, {options}" if options else product.title
    return f"Added to your cart: {what} ({added.quantity} in total)."


def _own_line(session: Session, cart: Cart, line_id: int) -> CartLine:
    line = session.get(CartLine, line_id)
    if line is None or line.cart_id != cart.id:
        raise DomainError("That item is no longer in your cart.")
    return line


def set_quantity(session: Session, *, cart: Cart, line_id: int, quantity: object) -> CartLine:
    line = _own_line(session, cart, line_id)
    line.quantity = parse_quantity(quantity)
    cart.updated_at = utcnow()
    session.add_all([line, cart])
    session.flush()
    return line


def remove(session: Session, *, cart: Cart, line_id: int) -> None:
    line = session.get(CartLine, line_id)
    if line is not None and line.cart_id == cart.id:
        session.delete(line)
        cart.updated_at = utcnow()
        session.add(cart)
        session.flush()


# --- pricing from the catalogue ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CartItem:
    line: CartLine
    product: Product | None
    variant: Variant | None  # None: no longer for sale (unpublished, unavailable, deleted)

    @property
    def available(self) -> bool:
        return self.variant is not None

    @property
    def unit_price(self) -> Money | None:
        if self.product is None or self.variant is None:
            return None
        return self.variant.price_for(self.product)

    @property
    def line_total(self) -> Money | None:
        price = self.unit_price
        return price * self.line.quantity if price is not None else None

    @property
    def title(self) -> str:
        return self.product.title if self.product is not None else self.line.sku

    @property
    def options(self) -> dict[str, str]:
        return dict(self.variant.options) if self.variant is not None else {}


def items(session: Session, cart: Cart | None) -> list[CartItem]:
    if cart is None or cart.id is None:
        return []
    found: list[CartItem] = []
    for line in lines(session, cart):
        pair = catalog.variant_by_sku(session, line.sku)
        if pair is None:  # no longer for sale: keep its title so the shopper knows what went
            raw = catalog_repository.variant_by_sku(session, line.sku)
            found.append(CartItem(line, raw[0] if raw else None, None))
        else:
            found.append(CartItem(line, pair[0], pair[1]))
    return found
