"""Dead letters under ``DRY_RUN``: one line each on stderr, so stdout keeps only outputs.

Text: ``dead letter: <error type>: <error> (topic 'in', partition 1, offset 7; attempts 3)``;
under ``STREAMPROCESSOR_LOG_FORMAT=json`` one JSON object with the same fields.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from typing import Any

from streamprocessor.runner._logs import JsonFormatter
from streamprocessor.stream import Message

__all__ = ["DeadLetterWriter", "json_logs"]

_SOURCE = ("source.topic", "source.partition", "source.offset", "source.line")


def json_logs() -> bool:
    """Tell whether the process logs JSON (``configure_logging`` with format json)."""
    return any(isinstance(h.formatter, JsonFormatter) for h in logging.getLogger().handlers)


def _text(v: bytes | None) -> str:
    return "" if v is None else v.decode("utf-8", "backslashreplace")


class DeadLetterWriter:
    """Writes each dead letter as one line to stderr (see the module).

    The runner calls :meth:`send` where it would send to the dead-letter producer.
    """

    def __init__(self, json_format: bool, stream: Any = None) -> None:
        self._json = json_format
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, msg: Message) -> None:
        """Write ``msg`` (a dead letter: the error and its source in its tags) as a line."""
        tags = msg.tags
        error, kind = _text(tags.get("error")), _text(tags.get("error.type"))
        if self._json:
            doc: dict[str, Any] = {"message": f"dead letter: {kind}: {error}", "error": error,
                                   "error.type": kind,
                                   "error.attempts": _text(tags.get("error.attempts"))}
            for name in _SOURCE:
                if name in tags:
                    doc[name] = _text(tags[name])
            line = json.dumps(doc, ensure_ascii=False)
        else:
            where = [f"{name[7:]} {_text(tags[name])!r}" if name == "source.topic"
                     else f"{name[7:]} {_text(tags[name])}" for name in _SOURCE if name in tags]
            where.append(f"attempts {_text(tags.get('error.attempts'))}")
            line = f"dead letter: {kind}: {error} ({', '.join(where)})"
        stream = self._stream if self._stream is not None else sys.stderr
        with self._lock:
            stream.write(line + "\n")
            stream.flush()
