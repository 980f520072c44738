"""Logging for the ``streamprocessor`` command: level and format from the environment.

``STREAMPROCESSOR_LOG_LEVEL`` (debug, info, warning, error, critical; default info) and
``STREAMPROCESSOR_LOG_FORMAT`` (``text`` lines, or ``json``: one object per line with
``time``, ``level``, ``logger``, ``message``, the record's extra fields and ``exception``).
Everything goes to stderr, through the standard :mod:`logging` module.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

__all__ = ["JsonFormatter", "TextFormatter", "configure_logging"]

# Attributes every LogRecord has; anything else came in through ``extra=``.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


def _timestamp(record: logging.LogRecord) -> str:
    t = datetime.fromtimestamp(record.created, UTC)
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class TextFormatter(logging.Formatter):
    """``2026-01-02T03:04:05.678Z INFO streamprocessor.runner: message key=value``."""

    def format(self, record: logging.LogRecord) -> str:
        """Format ``record`` as one text line (plus a traceback when there is one)."""
        line = f"{_timestamp(record)} {record.levelname} {record.name}: {record.getMessage()}"
        extras = _extras(record)
        if extras:
            line += " " + " ".join(f"{k}={v}" for k, v in extras.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        """Format ``record`` as one JSON line."""
        doc: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for k, v in _extras(record).items():
            doc.setdefault(k, v)
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str, ensure_ascii=False)


def configure_logging(level: str, fmt: str, stream: TextIO | None = None) -> None:
    """Send log records of ``level`` and above to stderr in format ``fmt`` (text or json)."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
