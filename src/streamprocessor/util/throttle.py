"""Log lines that repeat during an outage: one line per cause per interval.

A broker that stays unreachable makes the same warning several times a second (every
transient error, every batch of acknowledgements for partitions the group took away).
:class:`LogThrottle` logs the first line of a *cause* (a key the caller chooses: an error
code, a log site) and counts the ones that follow within the interval; the next line of
that cause logged after the interval says how many were left out:
``… (and 212 more like it in the last 10s)``, with ``suppressed=212`` as an extra field.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

__all__ = ["DEFAULT_INTERVAL", "THROTTLE", "LogThrottle"]

#: seconds between two lines of the same cause (librdkafka's own log throttle is 10 s too)
DEFAULT_INTERVAL = 10.0


class LogThrottle:
    """Logs at most one line per cause every ``interval`` seconds (thread-safe)."""

    def __init__(
        self,
        interval: float = DEFAULT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        max_causes: int = 1000,
    ) -> None:
        self.interval = interval
        self._clock = clock
        self._max = max_causes
        self._lock = threading.Lock()
        #: cause → (when its last line was logged, how many were left out since)
        self._seen: dict[Hashable, tuple[float, int]] = {}

    def log(
        self,
        logger: logging.Logger,
        level: int,
        cause: Hashable,
        msg: str,
        *args: Any,
        extra: dict[str, Any] | None = None,
    ) -> bool:
        """Log ``msg % args`` unless ``cause`` was logged less than ``interval`` ago.

        Returns whether the line was logged. A line left out is only counted.
        """
        if not logger.isEnabledFor(level):
            return False
        now = self._clock()
        key = (logger.name, level, cause)
        with self._lock:
            last, left_out = self._seen.get(key, (None, 0))
            if last is not None and now - last < self.interval:
                self._seen[key] = (last, left_out + 1)
                return False
            if len(self._seen) >= self._max:  # many different causes: forget the old ones
                self._seen.clear()
            self._seen[key] = (now, 0)
        if left_out:
            msg += " (and %d more like it in the last %gs)"
            args = (*args, left_out, self.interval)
            extra = {**(extra or {}), "suppressed": left_out}
        logger.log(level, msg, *args, extra=extra)
        return True

    def warning(
        self, logger: logging.Logger, cause: Hashable, msg: str, *args: Any, **kw: Any
    ) -> bool:
        """:meth:`log` at WARNING."""
        return self.log(logger, logging.WARNING, cause, msg, *args, **kw)

    def error(
        self, logger: logging.Logger, cause: Hashable, msg: str, *args: Any, **kw: Any
    ) -> bool:
        """:meth:`log` at ERROR."""
        return self.log(logger, logging.ERROR, cause, msg, *args, **kw)


#: the process-wide throttle of the library's repeating warnings
THROTTLE = LogThrottle()
