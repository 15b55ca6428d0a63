"""Geometry for the server-rendered SVG charts (the template only draws what this computes)."""

from __future__ import annotations

from dataclasses import dataclass

from store.funding.models import COST_CATEGORIES
from store.funding.service import MonthFigures
from store.money import Money

LEFT = 120  # room for the row labels
WIDTH = 460  # the longest bar
COST_COLOURS = ["#5b5b5b", "#7a7a7a", "#3f3f3f", "#969696", "#262626"]
INCOME_COLOURS = {"one_off": "#b3121d", "monthly": "#8a0d16", "round_up": "#d9534f", "shop_margin": "#1d6b35"}
INCOME_LABELS = {
    "one_off": "One-off donations",
    "monthly": "Monthly supporters",
    "round_up": "Round-ups at checkout",
    "shop_margin": "Shop margin",
}


@dataclass(frozen=True)
class Segment:
    label: str
    amount: Money
    x: float
    width: float
    colour: str


def _segments(parts: list[tuple[str, int, str]], scale: float) -> list[Segment]:
    # Edges from running totals, so rounding never drifts: the bar ends exactly at total × scale.
    found = []
    running = 0
    for label, pence, colour in parts:
        if pence <= 0:
            continue
        start = round(LEFT + running * scale, 1)
        running += pence
        end = round(LEFT + running * scale, 1)
        found.append(Segment(label, Money(pence), start, round(end - start, 1), colour))
    return found


def month_chart(f: MonthFigures) -> dict[str, object]:
    income_parts = [(key, max(0, getattr(f, key))) for key in INCOME_LABELS]
    income_drawn = sum(p for _, p in income_parts)
    biggest = max(f.costs_total, income_drawn, 1)
    scale = WIDTH / biggest
    costs = _segments(
        [
            (COST_CATEGORIES[k], f.costs[k], COST_COLOURS[i % len(COST_COLOURS)])
            for i, k in enumerate(COST_CATEGORIES)
        ],
        scale,
    )
    income = _segments([(INCOME_LABELS[k], p, INCOME_COLOURS[k]) for k, p in income_parts], scale)
    return {
        "costs": costs,
        "income": income,
        "costs_end": LEFT + round(f.costs_total * scale, 1),
        "income_end": LEFT + round(income_drawn * scale, 1),
        "left": LEFT,
        "width": LEFT + WIDTH + 110,
        "legend": [(INCOME_LABELS[k], INCOME_COLOURS[k]) for k in INCOME_LABELS]
        + [(COST_CATEGORIES[k], COST_COLOURS[i % len(COST_COLOURS)]) for i, k in enumerate(COST_CATEGORIES)],
    }


def history_chart(months: list[MonthFigures]) -> dict[str, object]:
    """Grouped bars, oldest on the left: costs (grey) beside what came in (red)."""
    ordered = list(reversed(months))
    biggest = max([max(m.costs_total, max(0, m.income_total)) for m in ordered] + [1])
    height = 160
    bars = []
    for i, m in enumerate(ordered):
        x = 40 + i * 56
        ch = round(m.costs_total * height / biggest, 1)
        ih = round(max(0, m.income_total) * height / biggest, 1)
        bars.append(
            {
                "label": m.month.strftime("%b %y"),
                "x": x,
                "costs_h": ch,
                "income_h": ih,
                "costs_y": 20 + height - ch,
                "income_y": 20 + height - ih,
                "costs": Money(m.costs_total),
                "income": Money(m.income_total),
            }
        )
    return {"bars": bars, "width": 60 + len(ordered) * 56, "base": 20 + height}


def column_chart(
    values: list[int], *, height: int = 120, step: int = 22, bar: int = 16, left: int = 8, top: int = 14
) -> dict[str, object]:
    """One column per value, scaled to the largest (the staff dashboard's 30 days)."""
    biggest = max([*values, 1])
    columns = []
    for i, value in enumerate(values):
        h = round(max(0, value) * height / biggest, 1)
        columns.append({"x": left + i * step, "y": round(top + height - h, 1), "h": h, "value": value})
    return {
        "columns": columns,
        "bar": bar,
        "width": left + len(values) * step + 16,  # room for the last tick's label
        "base": top + height,
        "top": top,
        "max": biggest,
        "height": top + height + 22,
    }
