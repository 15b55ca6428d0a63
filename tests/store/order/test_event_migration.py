"""Migration 0009_flow: every order_event row written before typed events gets its type and data."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, text

from store.config import Settings
from store.migrate import alembic_config

pytestmark = pytest.mark.no_db

# (kind, message, to_status) as the code before 0009_flow wrote them, and what they become.
OLD_ROWS = [
    ("note", "Order placed; awaiting payment.", None, "order_placed", {}),
    ("status", "Payment pi_A succeeded.", "paid", "payment_succeeded", {"intent_id": "pi_A", "amount": 2895}),
    ("status", "Accepted by the printer (1001).", "submitted", "status_changed", {}),
    (
        "payment",
        "Second payment pi_B of £1,028.95 succeeded, but the order was already paid by pi_A. Refund it in Stripe.",
        None,
        "second_payment",
        {"intent_id": "pi_B", "amount": 102895, "paid_by": "pi_A"},
    ),
    (
        "payment",
        "Payment pi_E of £48.99 succeeded after the order was cancelled. Refund it in Stripe.",
        None,
        "payment_after_cancellation",
        {"intent_id": "pi_E", "amount": 4899},
    ),
    (
        "payment",
        "Payment pi_C of 100 does not match the order total 2895; not marked paid.",
        None,
        "payment_mismatch",
        {"intent_id": "pi_C", "amount": 100, "expected": 2895},
    ),
    (
        "payment",
        "Payment pi_D failed: Your card was declined.",
        None,
        "payment_failed",
        {"intent_id": "pi_D", "reason": "Your card was declined."},
    ),
    (
        "payment",
        "Payment attempt not completed: Your card has insufficient funds. Please try another card.",
        None,
        "payment_failed",
        {"intent_id": None, "reason": "Your card has insufficient funds. Please try another card."},
    ),
    (
        "refund",
        "Refunded £10.00 (re_1). £10.00 of £28.95 refunded.",
        None,
        "refund_succeeded",
        {"refund_id": None, "stripe_refund_id": "re_1", "amount": 1000, "refunded": 1000, "in_full": False},
    ),
    (
        "refund",
        "Refunded £18.95 in full (re_2). £28.95 of £28.95 refunded.",
        None,
        "refund_succeeded",
        {"refund_id": None, "stripe_refund_id": "re_2", "amount": 1895, "refunded": 2895, "in_full": True},
    ),
    (
        "refund",
        "Refund of £5.00 failed: Stripe refused it (charge_already_refunded)",
        None,
        "refund_failed",
        {"refund_id": None, "amount": 500, "reason": "Stripe refused it (charge_already_refunded)"},
    ),
]


def test_old_events_get_their_type_and_data(tmp_path: Path) -> None:
    # given: a database at 0008 with an order and events in the old free-text kinds
    url = f"sqlite:///{tmp_path / 'old.db'}"
    config = alembic_config(Settings(_env_file=None, database_url=url))  # type: ignore[call-arg]
    command.upgrade(config, "0008")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO shop_order (id, number, token, status, email, full_name, address_line1, "
                "address_line2, town, postcode, country, currency, subtotal, discount_amount, shipping_name, "
                "shipping_amount, shipping_vat_amount, vat_amount, total, amount_refunded, created_at, "
                "updated_at) VALUES (1, 'RRM-OLD', 't', 'paid', 'a@example.org', 'A', '1 St', '', 'Leeds', "
                "'LS1 4AP', 'GB', 'GBP', 2500, 0, 'UK', 395, 66, 482, 2895, 0, '2026-11-01', '2026-11-01')"
            )
        )
        for n, (kind, message, to_status, _, _) in enumerate(OLD_ROWS, start=1):
            conn.execute(
                text(
                    "INSERT INTO order_event (id, order_id, kind, actor, message, to_status, created_at) "
                    "VALUES (:id, 1, :kind, 'system', :message, :to_status, '2026-11-01')"
                ),
                {"id": n, "kind": kind, "message": message, "to_status": to_status},
            )

    # when: it is migrated
    command.upgrade(config, "heads")

    # then: each row has its type and the facts its message held; the message is untouched
    import json

    with engine.connect() as conn:
        rows = conn.execute(text("SELECT kind, data, message FROM order_event ORDER BY id")).all()
    assert [(kind, json.loads(data)) for kind, data, _ in rows] == [(k, d) for _, _, _, k, d in OLD_ROWS]
    assert [message for _, _, message in rows] == [m for _, m, _, _, _ in OLD_ROWS]
    engine.dispose()
