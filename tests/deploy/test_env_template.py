"""deploy/storefront.env names every setting the shop reads, each with its explanation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from store.config import Settings

TEMPLATE = Path(__file__).resolve().parents[2] / "deploy" / "storefront.env"
# Agreed in the team brief; their owners add them to Settings as they land.
AGREED = {"STORE_UNPAID_ORDER_MINUTES", "STORE_DONATION_MAX_POUNDS", "STORE_IMAGE_FETCH_ALLOW", "STORE_STAFF_PASSWORD"}


@pytest.mark.no_db
def test_every_setting_is_in_the_env_template_with_a_comment() -> None:
    lines = TEMPLATE.read_text().splitlines()
    named = {}
    for i, line in enumerate(lines):
        match = re.match(r"#?(STORE_[A-Z_]+)=", line)
        if match:
            named[match.group(1)] = i
    wanted = {f"STORE_{name.upper()}" for name in Settings.model_fields} | AGREED
    assert wanted - set(named) == set()
    for name, i in named.items():
        above = i - 1
        while above >= 0 and re.match(r"#?STORE_[A-Z_]+=", lines[above]):  # a group shares one comment
            above -= 1
        assert above >= 0 and lines[above].startswith("# "), f"{name} has no explanation above it"
