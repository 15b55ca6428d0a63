"""Structured logs: one JSON object a line, with the `extra` fields (who, which order, which event)."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from store.config import Settings

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        data.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


def configure_logging(settings: Settings) -> None:
    root = logging.getLogger("store")
    if getattr(root, "_configured", False):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(logging.INFO if settings.env != "test" else logging.WARNING)
    root.propagate = settings.env == "test"  # let pytest's caplog see records
    root._configured = True  # type: ignore[attr-defined]
