"""Logging set-up: readable lines on a terminal, one JSON object a line in services."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

_SECRET_KEYS = ("password", "api_key", "secret", "token", "authorization")
_NOISY = ("httpx", "httpcore", "urllib3", "elastic_transport", "opensearch", "asyncio")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            payload.update({k: ("***" if any(s in k.lower() for s in _SECRET_KEYS) else v) for k, v in extra.items()})
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


class _DragnetHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Dragnet's root handler, told apart from any other (Scrapy's, pytest's) by its class."""


def configure_logging(level: str = "INFO", json_lines: bool = False) -> None:
    handler = _DragnetHandler(sys.stderr)
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    set_log_level(level)


def dragnet_handler() -> logging.Handler | None:
    """The handler :func:`configure_logging` put on the root logger, if it is still there."""
    return next((h for h in logging.getLogger().handlers if isinstance(h, _DragnetHandler)), None)


def set_log_level(level: str) -> None:
    """The level of the root logger and of Dragnet's handler.  The handler needs its own: a
    library that sets its loggers to DEBUG (Scrapy does) would otherwise print DEBUG records,
    since a record that propagates is checked against handlers' levels, not the root's."""
    root = logging.getLogger()
    root.setLevel(level)
    handler = dragnet_handler()
    if handler is not None:
        handler.setLevel(level)
    for noisy in _NOISY:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
