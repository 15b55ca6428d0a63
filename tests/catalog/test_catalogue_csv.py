"""The catalogue as CSV with Shopify's columns, through the staff upload form and the command line:
a 1,000-product Shopify-style file in, out again, and in again changing nothing; bad rows refused with
their line and column and nothing written; pictures only from allowed hosts; roles."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import event, text
from sqlmodel import func, select

from catalog import service
from catalog.models import Product, ProductImage, ProductTag, Variant
from store.config import get_settings
from store.db import get_engine
from tests.conftest import get_csrf

SHOPIFY_HEADER = [
    "Handle", "Title", "Body (HTML)", "Vendor", "Product Category", "Type", "Tags", "Published",
    "Option1 Name", "Option1 Value", "Option2 Name", "Option2 Value", "Option3 Name", "Option3 Value",
    "Variant SKU", "Variant Grams", "Variant Inventory Tracker", "Variant Inventory Qty", "Variant Inventory Policy",
    "Variant Fulfillment Service", "Variant Price", "Variant Compare At Price", "Variant Requires Shipping",
    "Variant Taxable", "Variant Barcode", "Image Src", "Image Position", "Image Alt Text", "Gift Card",
    "SEO Title", "SEO Description", "Variant Image", "Variant Weight Unit", "Cost per item", "Status",
]


def shopify_file(count: int) -> bytes:
    """`count` products as Shopify exports them: the first row of a handle carries the product,
    the following rows only the Handle and the variant (two sizes × two colours)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=SHOPIFY_HEADER)
    writer.writeheader()
    for n in range(count):
        cushion = n % 5 == 0
        for i, (size, colour) in enumerate([(s, c) for c in ("Black", "Red") for s in ("M", "L")]):
            row = dict.fromkeys(SHOPIFY_HEADER, "")
            row["Handle"] = f"protest-product-{n:04d}"
            if i == 0:
                row.update({
                    "Title": f"Protest product {n}",
                    "Body (HTML)": f"<p>Organic cotton, <strong>printed</strong> in Leeds.</p><p>Design no. {n} &amp; friends</p>",
                    "Vendor": "Red Revolution Media",
                    "Type": "cushions" if cushion else "T-shirts",
                    "Tags": "protest, Anti-war" if n % 2 else "nhs",
                    "Published": "TRUE" if n % 3 else "FALSE",
                    "Option1 Name": "Size",
                    "Option2 Name": "Color",
                    "Gift Card": "FALSE",
                    "Status": "active" if n % 3 else "draft",
                })
            row.update({
                "Option1 Value": size,
                "Option2 Value": colour,
                "Variant SKU": f"SHOP-{n:04d}-{colour[0]}-{size}",
                "Variant Grams": "180",
                "Variant Inventory Policy": "deny",
                "Variant Fulfillment Service": "manual",
                "Variant Price": "27.00" if size == "L" else "25.00",
                "Variant Requires Shipping": "TRUE",
                "Variant Taxable": "TRUE",
                "Cost per item": "11.50",
            })
            writer.writerow(row)
    return out.getvalue().encode()


def snapshot(db) -> dict[str, list[tuple]]:  # type: ignore[no-untyped-def]
    db.rollback()
    return {
        table: [tuple(r) for r in db.execute(text(f"SELECT * FROM {table} ORDER BY 1, 2")).all()]
        for table in ("product", "variant", "product_image", "product_tag")
    }


class CountWrites:
    def __init__(self) -> None:
        self.statements: list[str] = []

    def __call__(self, conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            self.statements.append(statement)


def upload(client, data: bytes, name: str = "products.csv"):  # type: ignore[no-untyped-def]
    token = get_csrf(client, "/staff/catalogue/import")
    return client.post(
        "/staff/catalogue/import",
        data={"csrf_token": token},
        files={"file": (name, data, "text/csv")},
        follow_redirects=False,
    )


@pytest.fixture
def collections(db):  # type: ignore[no-untyped-def]
    service.ensure_collections(db)
    db.commit()


@pytest.mark.slow
def test_a_thousand_shopify_products_in_out_and_in_again_changes_nothing(client, db, login_as, collections):
    login_as("catalogue")

    first = upload(client, shopify_file(1000))

    assert first.status_code == 303, first.text[:2000]
    db.rollback()
    assert db.exec(select(func.count()).select_from(Product)).one() == 1000
    assert db.exec(select(func.count()).select_from(Variant)).one() == 4000
    p7 = db.exec(select(Product).where(Product.slug == "protest-product-0007")).one()
    assert (p7.title, p7.price, p7.is_published) == ("Protest product 7", 2500, True)
    assert p7.description == "Organic cotton, printed in Leeds.\n\nDesign no. 7 & friends"
    variants = {v.sku: v for v in db.exec(select(Variant).where(Variant.product_id == p7.id)).all()}
    assert variants["SHOP-0007-R-L"].options == {"size": "L", "colour": "Red"}
    assert variants["SHOP-0007-R-L"].price_for(p7).amount == 2700
    assert variants["SHOP-0007-R-L"].provider_cost == 1150
    assert sorted(db.exec(select(ProductTag.tag).where(ProductTag.product_id == p7.id)).all()) == ["anti-war", "protest"]
    p3 = db.exec(select(Product).where(Product.slug == "protest-product-0003")).one()
    assert p3.is_published is False  # Published FALSE, Status draft

    exported = client.get("/staff/catalogue/export.csv")
    assert exported.status_code == 200
    rows = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert len(rows) == 4000
    assert rows[28]["Handle"] == "protest-product-0007" and rows[28]["Title"] == "Protest product 7"
    assert rows[28]["Body (HTML)"] == "<p>Organic cotton, printed in Leeds.</p><p>Design no. 7 &amp; friends</p>"
    before = snapshot(db)
    writes = CountWrites()
    event.listen(get_engine(), "before_cursor_execute", writes)
    try:
        again = upload(client, exported.content)
        shopify_again = upload(client, shopify_file(1000))
    finally:
        event.remove(get_engine(), "before_cursor_execute", writes)

    assert again.status_code == 303
    assert shopify_again.status_code == 303
    assert [s for s in writes.statements if "product" in s or "variant" in s] == []
    assert snapshot(db) == before
    page = BeautifulSoup(client.get("/staff/catalogue/import").text, "html.parser")
    assert "0 products created, 0 updated, 1000 unchanged" in page.get_text()


def bad_file() -> bytes:
    return (
        b"Handle,Title,Body (HTML),Type,Published,Option1 Name,Option1 Value,Option2 Name,Option2 Value,Variant SKU,Variant Price,Status\n"
        b"good-shirt,Good shirt,<p>Fine</p>,t-shirts,TRUE,Size,M,Colour,Black,GOOD-M,25.00,active\n"
        b"good-shirt,,,,,,L,,Black,GOOD-L,27.00,\n"
        b"bad-shirt,Bad shirt,,hats,maybe,Size,M,Colour,Black,BAD-M,twenty,\n"
        b",Orphan,,,,,,,,,,\n"
        b"Bad Handle!,Shirt,,t-shirts,TRUE,Size,S,Colour,Red,GOOD-M,-5,active\n"
    )


BAD_PROBLEMS = [
    ["4", "Type", "“hats” is not one of our collections: use cushions or t-shirts."],
    ["4", "Published", "Use TRUE or FALSE."],
    ["4", "Variant Price", "Enter an amount in pounds, like 25.00"],
    ["5", "Handle", "Every row needs the product's Handle."],
    ["6", "Handle", "Use lower-case letters, numbers and hyphens only (at most 150)."],
    ["6", "Variant SKU", "GOOD-M is already on line 2."],
    ["6", "Variant Price", "Enter an amount in pounds between 0.01 and 10000, like 25.00"],
]


def test_a_bad_row_is_refused_with_its_line_and_column_and_nothing_is_written(client, db, login_as, collections):
    login_as("catalogue")

    answer = upload(client, bad_file())

    assert answer.status_code == 422
    soup = BeautifulSoup(answer.text, "html.parser")
    problems = [[td.get_text() for td in tr.select("td")] for tr in soup.select("#import-problems tbody tr")]
    assert problems == BAD_PROBLEMS
    assert soup.select_one("#import-error strong").get_text() == "Nothing was imported: 7 problems in 3 rows."
    db.rollback()
    assert db.exec(select(func.count()).select_from(Product)).one() == 0
    assert db.exec(select(func.count()).select_from(Variant)).one() == 0


def test_body_html_is_kept_as_plain_paragraphs(client, db, login_as, collections):
    login_as("catalogue")
    body = '<p>Hello <script>alert("x")</script><b>world</b></p>\n<ul><li>One</li><li>Two<br>lines</li></ul><img src=x onerror=alert(1)>'
    data = (
        "Handle,Title,Body (HTML),Type,Option1 Name,Option1 Value,Option2 Name,Option2 Value,Variant Price\n"
        f'tee,Tee,"{body.replace(chr(34), chr(34) * 2)}",t-shirts,Size,M,Colour,Red,25\n'
    ).encode()

    assert upload(client, data).status_code == 303

    db.rollback()
    product = db.exec(select(Product).where(Product.slug == "tee")).one()
    assert product.description == "Hello world\n\nOne\n\nTwo\nlines"
    assert product.is_published is False  # no Published or Status column: a draft
    variant = db.exec(select(Variant).where(Variant.product_id == product.id)).one()
    assert variant.sku == "RRM-TEE-RED-M"  # made for it, as the product form does


@pytest.fixture
def picture_server():  # type: ignore[no-untyped-def]
    from store.demo.images import photo

    png = photo("Picture", seed=3)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = png if self.path == "/shirt.jpg" else b"not found"
            self.send_response(200 if self.path == "/shirt.jpg" else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:  # type: ignore[no-untyped-def]
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def picture_file(base: str, path: str = "/shirt.jpg") -> bytes:
    return (
        "Handle,Title,Type,Option1 Name,Option1 Value,Option2 Name,Option2 Value,Variant Price,Image Src,Image Alt Text\n"
        f"tee,Tee,t-shirts,Size,M,Colour,Red,25,{base}{path},A red tee on a hanger\n"
    ).encode()


def test_pictures_come_only_from_allowed_hosts(client, db, login_as, collections, picture_server, monkeypatch):
    login_as("catalogue")

    refused = upload(client, picture_file(picture_server))

    assert refused.status_code == 422
    cells = [td.get_text() for td in BeautifulSoup(refused.text, "html.parser").select("#import-problems td")]
    assert cells[:2] == ["2", "Image Src"]
    assert "STORE_IMAGE_FETCH_ALLOW" in cells[2]

    monkeypatch.setenv("STORE_IMAGE_FETCH_ALLOW", "127.0.0.1")
    get_settings.cache_clear()
    try:
        missing = upload(client, picture_file(picture_server, "/gone.jpg"))
        fetched = upload(client, picture_file(picture_server))
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()

    assert missing.status_code == 422
    assert "127.0.0.1 answered 404 for this picture." in missing.text
    assert fetched.status_code == 303
    db.rollback()
    image = db.exec(select(ProductImage)).one()
    assert image.alt == "A red tee on a hanger"
    assert (get_settings().media_dir / f"{image.image_key}-640.webp").exists()


@pytest.mark.parametrize("role", ["editor", "fulfilment"])
def test_other_roles_may_not_import_or_export(client, db, login_as, collections, role):
    login_as(role)
    token = get_csrf(client, "/newsletter")
    assert client.get("/staff/catalogue/import").status_code == 403
    assert client.get("/staff/catalogue/export.csv").status_code == 403
    posted = client.post(
        "/staff/catalogue/import", data={"csrf_token": token}, files={"file": ("p.csv", shopify_file(1), "text/csv")}
    )
    assert posted.status_code == 403
    db.rollback()
    assert db.exec(select(func.count()).select_from(Product)).one() == 0


# --- the command line ---------------------------------------------------------------------------------


def storefront(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "store.cli", *args], capture_output=True, text=True, env={**os.environ, **env}, timeout=300
    )


@pytest.mark.no_db
def test_the_command_line_imports_exports_and_refuses_bad_rows(tmp_path):
    env = {"STORE_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}", "STORE_MEDIA_DIR": str(tmp_path / "media")}
    assert storefront("migrate", env=env).returncode == 0
    from sqlmodel import Session, create_engine

    engine = create_engine(env["STORE_DATABASE_URL"])
    with Session(engine) as session:
        service.ensure_collections(session)
        session.commit()
    source = tmp_path / "shopify.csv"
    source.write_bytes(shopify_file(30))

    imported = storefront("catalogue", "import", str(source), env=env)

    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.strip() == (
        "catalogue imported: 30 products created, 0 updated, 0 unchanged; 120 variants created, 0 updated; 0 pictures added"
    )
    # not a terminal: plain progress lines on stderr, every tenth of the way
    lines = imported.stderr.strip().splitlines()
    assert lines[0] == "writing: 1/30" and lines[-1] == "writing: 30/30" and len(lines) == 11

    out = tmp_path / "out.csv"
    exported = storefront("catalogue", "export", str(out), env=env)
    assert exported.returncode == 0 and exported.stdout.strip() == f"catalogue written to {out}"
    again = storefront("catalogue", "import", str(out), env=env)
    assert again.returncode == 0, again.stderr
    assert "0 products created, 0 updated, 30 unchanged; 0 variants created, 0 updated" in again.stdout

    bad = tmp_path / "bad.csv"
    bad.write_bytes(bad_file())
    refused = storefront("catalogue", "import", str(bad), env=env)
    assert refused.returncode == 1
    assert refused.stderr.splitlines() == [f"{bad}: line {n}, {c}: {m}" for n, c, m in BAD_PROBLEMS] + [
        "error: Nothing was imported: 7 problems in 3 rows."
    ]
    missing = storefront("catalogue", "import", str(tmp_path / "nope.csv"), env=env)
    assert missing.returncode == 1
    assert missing.stderr.strip() == f"error: cannot read {tmp_path / 'nope.csv'}: No such file or directory"
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(Product)).one() == 30
