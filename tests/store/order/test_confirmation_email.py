"""mark_paid queues one confirmation email with the lines, VAT, delivery, discount, total, address, link."""

from __future__ import annotations

import email
from pathlib import Path

from sqlmodel import select

from store.config import get_settings
from store.mail.models import OutboundEmail
from store.order.notifications import percent, queue_confirmation
from tests.factories import make_paid_order

MIXED = [("TS-RED-M", "Solidarity T-shirt", 2500, 2), ("CU-BLK", "Picket cushion", 3000, 1)]


def test_paid_order_gets_one_confirmation_with_everything_in_it(db):
    order = make_paid_order(db, lines=MIXED, shipping=395, discount=500, discount_code="UNION5")
    # a second attempt (a redelivered webhook) queues nothing
    assert queue_confirmation(db, order=order) is False
    db.commit()
    sent = db.exec(select(OutboundEmail)).all()
    assert len(sent) == 1
    mail = sent[0]
    assert (mail.key, mail.to, mail.subject) == (
        f"order-{order.number}-confirmation",
        "shopper@example.org",
        f"Thank you for your order {order.number}",
    )
    text = mail.text
    assert "2 x £25.00 = £50.00 (includes VAT at 20%: £7.50)" in text
    assert "1 x £30.00 = £30.00 (includes VAT at 20%: £5.00)" in text
    assert "Subtotal: £80.00" in text
    assert "Discount (UNION5): -£5.00" in text
    assert "Delivery (UK standard): £3.95" in text
    assert "Total paid: £78.95" in text
    assert "Of which VAT: £13.16" in text
    assert "Rosa Parks\n1 Cable Street\nFlat 2\nLondon\nE1 8JQ\nGB" in text
    assert f"http://testserver/orders/{order.token}" in text
    assert "&amp;" not in text and "&#" not in text
    assert f'href="http://testserver/orders/{order.token}"' in mail.html
    assert "£78.95" in mail.html


def test_the_email_is_written_to_the_outbox_when_there_is_no_smtp(db):
    order = make_paid_order(db)
    # huey is immediate in tests: the send job ran after the commit
    path = Path(get_settings().outbox_dir) / f"order-{order.number}-confirmation.eml"
    assert path.exists()
    message = email.message_from_bytes(path.read_bytes())
    assert message["To"] == "shopper@example.org"
    assert message["Subject"] == f"Thank you for your order {order.number}"


def test_percent_writes_rates_as_people_do():
    assert [percent(2000), percent(500), percent(1250), percent(0), percent(1205)] == [
        "20%",
        "5%",
        "12.5%",
        "0%",
        "12.05%",
    ]


def test_the_confirmation_goes_out_by_smtp_when_it_is_set(db, smtp_sink):
    # given STORE_SMTP_URL points at a real SMTP server (aiosmtpd)
    # when an order is paid (the send job runs inline after the commit)
    order = make_paid_order(db, lines=MIXED, shipping=395, discount=500, discount_code="UNION5")

    # then exactly one message arrived over SMTP, addressed and worded as the shopper sees it
    [message] = smtp_sink.wait_for(1)
    [(sender, recipients, _)] = smtp_sink.envelopes
    assert (sender, recipients) == ("shop@redrevolution.example", ["shopper@example.org"])
    assert message["From"] == "Red Revolution Media <shop@redrevolution.example>"
    assert message["To"] == "shopper@example.org"
    assert message["Subject"] == f"Thank you for your order {order.number}"
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "Total paid: £78.95" in text
    assert f"http://testserver/orders/{order.token}" in text
    html = message.get_body(preferencelist=("html",)).get_content()
    assert f'href="http://testserver/orders/{order.token}"' in html
    # nothing was written to the outbox folder instead, and the row is marked sent
    assert not (Path(get_settings().outbox_dir) / f"order-{order.number}-confirmation.eml").exists()
    db.expire_all()
    assert db.exec(select(OutboundEmail.sent_at)).one() is not None
