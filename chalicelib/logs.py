"""Structured logging: one JSON object per line on stdout, through the stdlib ``logging`` module.

``bind()`` sets ``upload_id``, ``table``, ``stage`` and ``request_id`` for everything logged
inside it, so each line of an invocation carries them without threading them through every call;
every line has those four keys (null when unknown), so Logs Insights queries can rely on them.
Row contents, presigned URLs and credentials are never logged.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator

_CONTEXT: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "log_context", default=None
)
_BASE_KEYS = ("upload_id", "table", "stage", "request_id")
# Libraries whose info lines are per-request noise (moto's server, botocore's config lookups).
_QUIET_LOGGERS = ("werkzeug", "botocore", "boto3", "urllib3")
_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line: ts, level, event, the bound keys, then extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "event": record.getMessage(),
            "logger": record.name,
        }
        context = _CONTEXT.get() or {}
        for key in _BASE_KEYS:
            entry[key] = context.get(key)
        entry.update({k: v for k, v in context.items() if k not in _BASE_KEYS})
        entry.update({k: v for k, v in vars(record).items() if k not in _RESERVED})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def setup(level: int = logging.INFO) -> None:
    """Send every log record to stdout as JSON (idempotent)."""
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root.handlers = [handler]
    root.setLevel(level)
    for noisy in _QUIET_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)


@contextmanager
def bind(**fields: Any) -> Iterator[None]:
    """Add ``fields`` to every log line emitted inside the block."""
    token = _CONTEXT.set({**(_CONTEXT.get() or {}), **fields})
    try:
        yield
    finally:
        _CONTEXT.reset(token)
