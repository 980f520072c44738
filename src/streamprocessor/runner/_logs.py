"""Logging for the ``streamprocessor`` command: level and format from the environment.

``STREAMPROCESSOR_LOG_LEVEL`` (debug, info, warning, error, critical; default info) and
``STREAMPROCESSOR_LOG_FORMAT`` (``text`` lines, or ``json``: one object per line with
``time``, ``level``, ``logger``, ``message``, the record's extra fields and ``exception``).
Everything the process writes to stderr goes through the standard :mod:`logging` module,
so under ``json`` every line is one JSON object: log records, librdkafka's own lines
(the Kafka clients hand them to logging), ``--stats`` lines, usage errors, Python warnings
(:func:`logging.captureWarnings`) and uncaught exceptions (the traceback is the
``exception`` field), in the main thread and in others.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, TextIO

__all__ = ["JsonFormatter", "TextFormatter", "configure_logging", "json_logs", "log_format"]

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


def log_format(environ: dict[str, str] | None = None) -> str:
    """Return ``json`` when ``STREAMPROCESSOR_LOG_FORMAT`` asks for it, else ``text``.

    Read before the settings are validated, so that even a usage error is in that format.
    """
    value = (os.environ if environ is None else environ).get("STREAMPROCESSOR_LOG_FORMAT", "")
    return "json" if value.strip().lower() == "json" else "text"


_format = "text"


def json_logs() -> bool:
    """Tell whether :func:`configure_logging` chose the JSON format."""
    return _format == "json"


def _uncaught(
    kind: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> None:
    logging.getLogger("streamprocessor").critical(
        "Uncaught exception: %s: %s", kind.__name__, exc, exc_info=(kind, exc, tb)
    )


def _uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit or args.exc_value is None:
        return
    logging.getLogger("streamprocessor").critical(
        "Uncaught exception in thread %s: %s: %s",
        args.thread.name if args.thread is not None else "?",
        args.exc_type.__name__,
        args.exc_value,
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
    )


def configure_logging(level: str, fmt: str, stream: TextIO | None = None) -> None:
    """Send log records of ``level`` and above to stderr in format ``fmt`` (text or json).

    Under ``json`` uncaught exceptions and Python warnings are logged too, so that stderr
    carries nothing but JSON lines.
    """
    global _format
    _format = fmt
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    if fmt == "json":
        logging.captureWarnings(True)
        sys.excepthook = _uncaught
        threading.excepthook = _uncaught_in_thread
