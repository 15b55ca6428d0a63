from __future__ import annotations

from bs4 import BeautifulSoup


def test_demo_data_fills_the_funding_page_with_six_months(client, db):
    from store.demo.load import load_demo_data

    load_demo_data(db)
    db.commit()

    soup = BeautifulSoup(client.get("/funding").text, "html.parser")

    assert soup.select_one("#costs-total").get_text() == "£197.00"
    assert len(soup.select("#history-table tbody tr")) == 5
