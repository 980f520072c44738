"""Live statistics on stderr (``--stats``): rates, backlog and errors.

On a terminal the line is rewritten in place; otherwise one line is printed per interval,
so a log collector keeps the history. Under ``STREAMPROCESSOR_LOG_FORMAT=json`` each line
is a log record (logger ``streamprocessor.stats``, the figures as fields).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

from streamprocessor.runner._logs import json_logs

__all__ = ["StatsPrinter", "format_stats"]

_log = logging.getLogger("streamprocessor.stats")


def format_stats(
    rate_in: float, rate_out: float, backlog: int | None, totals: dict[str, int]
) -> str:
    """Return one statistics line."""
    parts = [
        f"in {rate_in:,.0f}/s",
        f"out {rate_out:,.0f}/s",
        f"backlog {'?' if backlog is None else f'{backlog:,}'}",
        f"errors {totals['errors']:,}",
    ]
    if totals.get("skipped"):
        parts.append(f"skipped {totals['skipped']:,}")
    if totals.get("dead_letters"):
        parts.append(f"dead letters {totals['dead_letters']:,}")
    parts.append(f"total in {totals['in']:,} out {totals['out']:,}")
    return "  ".join(parts)


class StatsPrinter:
    """Print statistics every ``interval`` seconds until :meth:`stop`."""

    def __init__(
        self,
        totals: Callable[[], dict[str, int]],
        backlog: Callable[[], int],
        interval: float,
        out: TextIO | None = None,
    ) -> None:
        self._totals = totals
        self._backlog = backlog
        self._interval = interval
        self._out = out if out is not None else sys.stderr
        self._json = json_logs() and out is None
        self._tty = not self._json and bool(getattr(self._out, "isatty", lambda: False)())
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="sp-stats")
        self._last = (time.monotonic(), {"in": 0, "out": 0})
        self._printed = False
        # the backlog may take seconds to learn (Kafka asks the broker): a thread of its
        # own keeps it fresh, and every line shows the latest value known
        self._backlog_value: int | None = None
        self._poller = threading.Thread(target=self._poll, daemon=True, name="sp-backlog")

    def start(self) -> None:
        """Start printing."""
        self._last = (time.monotonic(), self._totals())
        self._poller.start()
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                self._backlog_value = self._backlog()
            except Exception:
                self._backlog_value = None
            self._stop.wait(self._interval)

    def stop(self) -> None:
        """Print a last line and stop."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._print()
        if self._tty and self._printed:
            self._write("\n")

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self._print()

    def _print(self) -> None:
        now = time.monotonic()
        totals = self._totals()
        then, before = self._last
        elapsed = max(now - then, 1e-9)
        self._last = (now, totals)
        backlog = self._backlog_value
        rate_in = (totals["in"] - before["in"]) / elapsed
        rate_out = (totals["out"] - before["out"]) / elapsed
        line = format_stats(rate_in, rate_out, backlog, totals)
        self._printed = True
        if self._json:  # (asked for with --stats: shown whatever the log level)
            _log.handle(_log.makeRecord(
                _log.name, logging.INFO, __file__, 0, line, (), None,
                extra={"rate_in": round(rate_in, 1), "rate_out": round(rate_out, 1),
                       "backlog": backlog, "totals": totals},
            ))
            return
        self._write(f"\r\x1b[K{line}" if self._tty else f"{line}\n")

    def _write(self, text: str) -> None:
        try:
            self._out.write(text)
            self._out.flush()
        except (OSError, ValueError):
            pass
