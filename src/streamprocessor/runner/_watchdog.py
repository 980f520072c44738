"""The stuck-handler watchdog: a handler call running past a limit ends the process.

Kafka gives a consumer's partitions to another group member when it does not poll for
the max poll interval; a handler stuck that long would then be processing messages that
are no longer its own. The watchdog logs what it was handling, closes every client
(committing what was acknowledged) and exits with status 1, so a supervisor restarts it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from streamprocessor.runner._lanes import Lane
from streamprocessor.runner.handler import describe
from streamprocessor.runner.settings import RunnerSettings
from streamprocessor.stream import Message

__all__ = ["StuckWatchdog", "close_quietly", "handler_limit"]

_log = logging.getLogger("streamprocessor.runner")
_KAFKA_DEFAULT_MAX_POLL = 300.0  # librdkafka's max.poll.interval.ms default, in seconds


def handler_limit(consumer: Any, has_handler: bool, settings: RunnerSettings) -> float | None:
    """Return the handler timeout in seconds (None: no watchdog).

    An explicit ``handler_timeout`` wins (0 turns it off); otherwise a Kafka consumer's
    max poll interval (librdkafka's 5 minutes when unset); otherwise none.
    """
    limit = settings.handler_timeout
    if limit is not None:
        return limit.total_seconds() or None
    config = getattr(consumer, "config", None)
    if not has_handler or getattr(config, "type", "") != "kafka":
        return None
    mpi = getattr(getattr(config, "kafka", None), "max_poll_interval", None)
    seconds = mpi.total_seconds() if mpi is not None else 0.0
    return seconds or _KAFKA_DEFAULT_MAX_POLL


def close_quietly(client: Any) -> None:
    """Close ``client``, logging instead of raising."""
    try:
        client.close()
    except Exception as exc:
        _log.error("Closing %r failed: %s", client, exc)


class StuckWatchdog:
    """Watch the lanes; when one handles the same message for ``limit`` seconds, exit 1."""

    def __init__(
        self,
        lanes: Sequence[Lane],
        limit: float,
        done: threading.Event,
        clients: Callable[[], list[Any]],
        exit: Callable[[int], None] = os._exit,
    ) -> None:
        self._lanes = lanes
        self._limit = limit
        self._done = done
        self._clients = clients
        self._exit = exit
        self._thread = threading.Thread(target=self._watch, daemon=True,
                                        name="sp-handler-watchdog")

    def start(self) -> None:
        """Start watching (until ``done`` is set)."""
        self._thread.start()

    def _watch(self) -> None:
        limit = self._limit
        tick = min(1.0, limit / 4)
        seen: dict[int, tuple[Message, float]] = {}
        while not self._done.wait(tick):
            now = time.monotonic()
            for lane in self._lanes:
                cur = lane.current
                if cur is None:
                    seen.pop(lane.index, None)
                    continue
                prev = seen.get(lane.index)
                if prev is None or prev[0] is not cur:
                    seen[lane.index] = (cur, now)
                elif now - prev[1] >= limit:
                    self._stuck(cur, now - prev[1])
                    return

    def _stuck(self, msg: Message, elapsed: float) -> None:
        _log.critical(
            "The handler has been running for %.1fs on %s, past the handler timeout of "
            "%gs (for Kafka: the max poll interval, after which the group reassigns the "
            "partition). Exiting with status 1 so a supervisor restarts the processor; "
            "the message is not acknowledged.",
            elapsed, describe(msg), self._limit,
        )
        for client in self._clients():  # commit what was acknowledged, each bounded
            t = threading.Thread(target=close_quietly, args=(client,), daemon=True)
            t.start()
            t.join(10.0)
        for h in logging.getLogger().handlers:
            h.flush()
        self._exit(1)
