"""Structured logs: one JSON object a line, with the `extra` fields (who, which order, which event)."""

from __future__ import annotations

import json
import logging
import re
import sys
from typing import Any

from store.config import Settings

# uvicorn adds color_message (the message with terminal colours): noise in a JSON line.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",
}


# Paths that carry a bearer secret: whoever holds the link sees an order and its delivery address, or
# manages a donation or a newsletter subscription. Logs keep which page, never the secret.
_SECRET_IN_PATH = re.compile(
    r"^(/(?:api/)?orders/|/checkout/complete/|/donate/manage/|/newsletter/(?:confirm|unsubscribe)/)[^/?#]+"
)
MASKED = "[token]"


def without_secrets(path: str) -> str:
    """`path` as a log line may keep it: "/orders/Xy…" becomes "/orders/[token]"."""
    return _SECRET_IN_PATH.sub(lambda m: m.group(1) + MASKED, path, count=1)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        data.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if isinstance(data.get("path"), str):  # every log line with a path: access log, errors, ours
            data["path"] = without_secrets(data["path"])
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


def configure_logging(settings: Settings) -> None:
    """Ours at INFO and the job queue's (huey) at WARNING (a line per job run would be noise; its
    failures, timeouts and revoked jobs are not), JSON lines on stderr. The web app and `worker` call it."""
    root = logging.getLogger("store")
    if getattr(root, "_configured", False):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    testing = settings.env == "test"
    for name, level in (("store", logging.INFO), ("huey", logging.WARNING)):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(logging.WARNING if testing else level)
        logger.propagate = testing  # let pytest's caplog see records
    root._configured = True  # type: ignore[attr-defined]


class AccessJsonFormatter(JsonFormatter):
    """uvicorn's access log as JSON: who asked, what, and the answer, as separate fields (a secret in
    the path masked, as in every line: JsonFormatter)."""

    def format(self, record: logging.LogRecord) -> str:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5:
            client, method, path, http_version, status = args
            record = logging.makeLogRecord(
                {
                    **vars(record),
                    "msg": "request",
                    "args": None,
                    "client": client,
                    "method": method,
                    "path": path,
                    "http_version": http_version,
                    "status": status,
                }
            )
        return super().format(record)


def uvicorn_log_config() -> dict[str, Any]:
    """logging.config for uvicorn under `serve`: its messages and access log, JSON lines on stderr."""
    handler = {"class": "logging.StreamHandler", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {"()": "store.logging_setup.JsonFormatter"},
            "access": {"()": "store.logging_setup.AccessJsonFormatter"},
        },
        "handlers": {
            "default": {**handler, "formatter": "json"},
            "access": {**handler, "formatter": "access"},
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
        },
    }
