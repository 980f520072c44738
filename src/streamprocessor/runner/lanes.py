"""A worker's lane: its queue, its counters, the message it is handling."""

from __future__ import annotations

import queue
from typing import Any

from streamprocessor.stream import Message, message_opaque

__all__ = ["Lane", "partition_of"]


class Lane:
    """One worker's queue, counters and the message it is handling (for the watchdog)."""

    __slots__ = ("current", "index", "n_dead", "n_errors", "n_in", "n_out", "n_skipped",
                 "queue")

    def __init__(self, index: int) -> None:
        self.index = index
        #: chunks of up to ``queue_size`` messages: one waits while the worker handles
        #: the one before
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=1)
        self.current: Message | None = None
        self.n_in = 0
        self.n_out = 0
        self.n_errors = 0
        self.n_skipped = 0
        self.n_dead = 0


def partition_of(msg: Message) -> int | None:
    """Return the Kafka partition a consumed message came from (None elsewhere).

    Read from a ``partition`` attribute of the message or of the consumer's opaque data
    (the Kafka consumer keeps its partition state there), so no client is imported.
    """
    part = getattr(msg, "partition", None)
    if isinstance(part, int):
        return part
    op = message_opaque(msg)
    if isinstance(op, tuple) and op:
        op = op[0]
    part = getattr(op, "partition", None)
    return part if isinstance(part, int) else None
