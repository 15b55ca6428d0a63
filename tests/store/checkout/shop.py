"""Arrange a shop for cart and checkout tests: products through the catalogue service, carts over HTTP."""

from __future__ import annotations

from typing import Any

from bs4 import BeautifulSoup
from sqlmodel import Session, select

from catalog import service as catalog
from catalog.models import Product, Variant
from tests.conftest import csrf_from, get_csrf


def make_product(
    db: Session,
    title: str = "No War t-shirt",
    *,
    price: str = "25.00",
    sizes: str = "S, M, L",
    colours: str = "Black",
    collection: str = "t-shirts",
    published: bool = True,
) -> Product:
    catalog.ensure_collections(db)
    form = catalog.ProductForm(
        title=title,
        slug="",
        description="A shirt.",
        collection=collection,
        price=price,
        sizes=sizes,
        colours=colours,
        tags="",
        published=published,
    )
    product = catalog.save_product(db, form=form, product=None, photo_key=None)
    db.commit()
    return product


def sku_of(db: Session, product: Product, size: str = "M", colour: str = "Black") -> str:
    for variant in db.exec(select(Variant).where(Variant.product_id == product.id)).all():
        if variant.options.get("size") == size and variant.options.get("colour") == colour:
            sku = variant.sku
            db.rollback()  # end the read: SQLite would refuse this session's next write otherwise
            return sku
    raise AssertionError(f"no variant {size}/{colour}")


def add(client: Any, sku: str, quantity: int | str = 1, **extra: str) -> Any:
    token = get_csrf(client)
    return client.post(
        "/cart/add",
        data={"csrf_token": token, "sku": sku, "quantity": str(quantity), **extra},
        follow_redirects=False,
    )


ADDRESS = {
    "email": "ada@example.org",
    "full_name": "Ada Lovelace",
    "address_line1": "12 Marsh Lane",
    "address_line2": "",
    "town": "Leeds",
    "postcode": "ls1 4ap",
    "country": "GB",
}


def checkout(client: Any, **overrides: str) -> Any:
    page = client.get("/checkout")
    assert page.status_code == 200, page.text
    data = {"csrf_token": csrf_from(page.text), **ADDRESS, **overrides}
    return client.post("/checkout", data=data, follow_redirects=False)


def soup(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


def pay_form(client: Any) -> dict[str, str]:
    """The hidden fields of the payment step's form (csrf_token, order, amount, …)."""
    page = client.get("/checkout/pay")
    assert page.status_code == 200, page.text
    form = soup(page.text).find("form", attrs={"data-card-payment": True})
    assert form is not None
    return {i["name"]: i.get("value", "") for i in form.find_all("input") if i.get("name")}
