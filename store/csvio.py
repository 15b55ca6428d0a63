"""CSV cells that spreadsheets cannot turn into formulas, and rows written as text for streaming.

OWASP "CSV Injection": a cell starting with =, +, -, @, tab or carriage return is run as a formula
by Excel, LibreOffice and Google Sheets. Such a cell gets a leading apostrophe, which spreadsheets
show as text. Reading our own files back, `plain_cell` takes that apostrophe off again.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"  # Excel needs it to read UTF-8 (names with accents) correctly


def safe_cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def plain_cell(text: str) -> str:
    """Undo safe_cell: an apostrophe that only guards a formula trigger is not part of the value."""
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_TRIGGERS) else text


def rows_text(rows: Iterable[Sequence[object]]) -> str:
    """Rows as CSV text (every cell made safe), for a streamed response or a file."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in rows:
        writer.writerow([safe_cell(cell) for cell in row])
    return buffer.getvalue()
