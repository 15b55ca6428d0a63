"""shop search: the product_search index, kept in step by triggers

SQLite: an FTS5 table (rowid = product id; title, description, tags, SKUs; Porter stemming). PostgreSQL:
a table of tsvectors (title A, tags and SKUs B, description C) with a GIN index. On both, triggers on
product, product_tag and variant keep it in step with every change, whoever makes it.

Revision ID: 0009_shop
Revises: 0009_flow
Create Date: 2026-11-27
"""

from typing import Sequence, Union

from alembic import op

revision: str = "0009_shop"
down_revision: Union[str, Sequence[str], None] = "0009_flow"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

_TAGS = "(SELECT group_concat(tag, ' ') FROM product_tag WHERE product_id = {pid})"
_SKUS = "(SELECT group_concat(sku, ' ') FROM variant WHERE product_id = {pid})"

SQLITE_UP = [
    "CREATE VIRTUAL TABLE product_search USING fts5("
    "title, description, tags, skus, tokenize = 'porter unicode61 remove_diacritics 2')",
    "INSERT INTO product_search (rowid, title, description, tags, skus) "
    f"SELECT id, title, description, {_TAGS.format(pid='product.id')}, {_SKUS.format(pid='product.id')} "
    "FROM product",
    f"""CREATE TRIGGER product_search_insert AFTER INSERT ON product BEGIN
        INSERT INTO product_search (rowid, title, description, tags, skus)
        VALUES (new.id, new.title, new.description, {_TAGS.format(pid="new.id")}, {_SKUS.format(pid="new.id")});
    END""",
    """CREATE TRIGGER product_search_update AFTER UPDATE OF title, description ON product BEGIN
        UPDATE product_search SET title = new.title, description = new.description WHERE rowid = new.id;
    END""",
    """CREATE TRIGGER product_search_delete AFTER DELETE ON product BEGIN
        DELETE FROM product_search WHERE rowid = old.id;
    END""",
    f"""CREATE TRIGGER product_search_tag_insert AFTER INSERT ON product_tag BEGIN
        UPDATE product_search SET tags = {_TAGS.format(pid="new.product_id")} WHERE rowid = new.product_id;
    END""",
    f"""CREATE TRIGGER product_search_tag_delete AFTER DELETE ON product_tag BEGIN
        UPDATE product_search SET tags = {_TAGS.format(pid="old.product_id")} WHERE rowid = old.product_id;
    END""",
    f"""CREATE TRIGGER product_search_variant_insert AFTER INSERT ON variant BEGIN
        UPDATE product_search SET skus = {_SKUS.format(pid="new.product_id")} WHERE rowid = new.product_id;
    END""",
    f"""CREATE TRIGGER product_search_variant_update AFTER UPDATE OF sku, product_id ON variant BEGIN
        UPDATE product_search SET skus = {_SKUS.format(pid="old.product_id")} WHERE rowid = old.product_id;
        UPDATE product_search SET skus = {_SKUS.format(pid="new.product_id")} WHERE rowid = new.product_id;
    END""",
    f"""CREATE TRIGGER product_search_variant_delete AFTER DELETE ON variant BEGIN
        UPDATE product_search SET skus = {_SKUS.format(pid="old.product_id")} WHERE rowid = old.product_id;
    END""",
]

SQLITE_DOWN = [
    *(
        f"DROP TRIGGER IF EXISTS product_search_{name}"
        for name in (
            "insert",
            "update",
            "delete",
            "tag_insert",
            "tag_delete",
            "variant_insert",
            "variant_update",
            "variant_delete",
        )
    ),
    "DROP TABLE IF EXISTS product_search",
]

POSTGRES_UP = [
    """CREATE TABLE product_search (
        product_id INTEGER PRIMARY KEY REFERENCES product (id) ON DELETE CASCADE,
        document TSVECTOR NOT NULL
    )""",
    "CREATE INDEX ix_product_search_document ON product_search USING GIN (document)",
    """CREATE FUNCTION product_search_refresh(pid INTEGER) RETURNS VOID LANGUAGE SQL AS $$
        INSERT INTO product_search (product_id, document)
        SELECT p.id,
            setweight(to_tsvector('english', p.title), 'A')
            || setweight(to_tsvector('english', coalesce(
                (SELECT string_agg(t.tag, ' ') FROM product_tag t WHERE t.product_id = p.id), '')), 'B')
            || setweight(to_tsvector('english', coalesce(
                (SELECT string_agg(v.sku, ' ') FROM variant v WHERE v.product_id = p.id), '')), 'B')
            || setweight(to_tsvector('english', p.description), 'C')
        FROM product p WHERE p.id = pid
        ON CONFLICT (product_id) DO UPDATE SET document = EXCLUDED.document
    $$""",
    """CREATE FUNCTION product_search_product_changed() RETURNS TRIGGER LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM product_search_refresh(NEW.id);
        RETURN NULL;
    END $$""",
    """CREATE FUNCTION product_search_child_changed() RETURNS TRIGGER LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN PERFORM product_search_refresh(OLD.product_id); END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN PERFORM product_search_refresh(NEW.product_id); END IF;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER product_search_product AFTER INSERT OR UPDATE OF title, description ON product
        FOR EACH ROW EXECUTE FUNCTION product_search_product_changed()""",
    """CREATE TRIGGER product_search_tag AFTER INSERT OR UPDATE OR DELETE ON product_tag
        FOR EACH ROW EXECUTE FUNCTION product_search_child_changed()""",
    """CREATE TRIGGER product_search_variant AFTER INSERT OR DELETE OR UPDATE OF sku, product_id ON variant
        FOR EACH ROW EXECUTE FUNCTION product_search_child_changed()""",
    "SELECT product_search_refresh(id) FROM product",
]

POSTGRES_DOWN = [
    "DROP TRIGGER IF EXISTS product_search_variant ON variant",
    "DROP TRIGGER IF EXISTS product_search_tag ON product_tag",
    "DROP TRIGGER IF EXISTS product_search_product ON product",
    "DROP FUNCTION IF EXISTS product_search_child_changed()",
    "DROP FUNCTION IF EXISTS product_search_product_changed()",
    "DROP FUNCTION IF EXISTS product_search_refresh(INTEGER)",
    "DROP TABLE IF EXISTS product_search",
]


def _statements(up: bool) -> list[str]:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        return POSTGRES_UP if up else POSTGRES_DOWN
    return SQLITE_UP if up else SQLITE_DOWN


def upgrade() -> None:
    for statement in _statements(up=True):
        op.execute(statement)


def downgrade() -> None:
    for statement in _statements(up=False):
        op.execute(statement)
