"""A worker's lane: its queue, its counters, the message it is handling."""

from __future__ import annotations

import queue
import threading
from typing import Any

from streamprocessor.stream import Message, message_opaque

__all__ = ["Lane", "partition_of"]


class Lane:
    """One worker's queue, counters and the message it is handling (for the watchdog)."""

    __slots__ = ("batch", "cond", "current", "index", "last", "left", "n_dead", "n_errors",
                 "n_in", "n_out", "n_skipped", "paused", "per_msg", "queue", "waiting")

    def __init__(self, index: int) -> None:
        self.index = index
        #: chunks of up to ``queue_size`` messages for the worker, in order (bounded
        #: once per fetched batch, see ``Runner._make_room``)
        self.queue: queue.Queue[Any] = queue.Queue()
        #: guards ``waiting`` and ``paused``; notified when the worker takes a chunk
        self.cond = threading.Condition(threading.Lock())
        #: messages in the queue, not yet taken by the worker
        self.waiting = 0
        #: what the consumer paused because this lane was full (see ``Consumer._pause``)
        self.paused: list[Any] = []
        #: the chunk queued last (its sources are paused when the lane is full)
        self.last: list[Message] = []
        #: seconds the worker took per message of its last chunk
        self.per_msg = 0.0
        self.current: Message | None = None
        #: the batch the lane is handling (one worker: the consumer's batch)
        self.batch: list[Message] = []
        #: messages the worker was handed and did not handle (stopping, failing)
        self.left: list[Message] = []
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
