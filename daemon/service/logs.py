"""Log lines that people and journald read well: one message, then key=value fields.

Every line carries a stable `action` (`notice_planned`, `notice_delivered`...);
`LOG_FORMAT=json` writes the same fields as one JSON object per line.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

# The attributes every LogRecord has; anything else was passed in `extra`.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and v is not None}


def _plain(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    text = str(value)
    return json.dumps(text) if (" " in text or "=" in text or not text) else text


class TextFormatter(logging.Formatter):
    """`2026-11-26T10:00:00Z INFO notice delivered action=notice_delivered delivery=msg_...`."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        parts = [stamp, record.levelname, record.getMessage()]
        parts += [f"{key}={_plain(value)}" for key, value in _fields(record).items()]
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line with time, level, message, logger and the fields."""

    def format(self, record: logging.LogRecord) -> str:
        document = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
            **{
                k: (v.isoformat() if isinstance(v, datetime) else v)
                for k, v in _fields(record).items()
            },
        }
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, default=str)


def configure(level: str, fmt: str) -> None:
    """Send logs to standard error in the chosen format; quiet the libraries."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("apscheduler", "httpx", "httpcore", "uvicorn.access", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # A wake that lands while a drain is already running is expected (the drain
    # loops again); APScheduler reports it as a skipped run at WARNING.
    logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
