"""Delivery reports of a producer → its ack-barrier tracker, in bulk.

Every message gets a tiny callback object holding its send number: a :class:`Report`,
which *is* that number (an ``int`` subclass: made by C, no ``__init__`` to run), of a
class each producer makes with its own deque (:attr:`Deliveries.report`). librdkafka
runs the callbacks inside ``poll``/``flush``; a report only appends itself (or
``(number, error, record)`` on failure) to the deque. Right after each poll
:meth:`Deliveries.settle` moves the whole deque into the tracker: when the numbers form
one complete run after what was confirmed before — the normal case, whatever order the
partitions reported in — that is a single ``confirm_upto``.

All polling goes through :attr:`Deliveries.serve_lock`, so no callback runs while the
deque is being taken.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from streamprocessor.clients.barrier import DeliveryTracker

__all__ = ["Deliveries", "Report"]


class Report(int):
    """The delivery callback of one message: its send number, callable.

    Subclassed per producer with the class attribute ``done`` (the producer's deque).
    """

    __slots__ = ()
    done: deque[Any]

    def __call__(self, err: Any, msg: Any) -> None:
        """Record the outcome (librdkafka calls this from ``poll``/``flush``)."""
        if err is None:
            self.done.append(self)
        else:
            self.done.append((self, err, msg))


class Deliveries:
    """Collects one producer's delivery reports and confirms them to its tracker."""

    def __init__(self, tracker: DeliveryTracker, seq_lock: threading.Lock) -> None:
        self.tracker = tracker
        #: the producer's numbering lock; the tracker changes only under it
        self.seq_lock = seq_lock
        #: held by whoever polls or flushes the librdkafka handle
        self.serve_lock = threading.Lock()
        self.done: deque[Any] = deque()
        #: the callback class of this producer's messages: ``report(number)``
        self.report: type[Report] = type("Report", (Report,), {"__slots__": (), "done": self.done})

    def settle(self) -> list[tuple[int, Any, Any]]:
        """Confirm the delivered numbers; return the failures ``(number, error, record)``.

        Call with :attr:`serve_lock` held (no callback may run meanwhile).
        """
        done = self.done
        if not done:
            return []
        items = list(done)
        done.clear()
        failures: list[tuple[int, Any, Any]] = []
        try:
            lo = min(items)  # comparing a number with a failure tuple raises TypeError
            hi = max(items)
            mixed = lo.__class__ is tuple  # (a lone failure compares with nothing)
        except TypeError:
            mixed = True
        if mixed:
            failures = [i for i in items if i.__class__ is tuple]
            items = [i for i in items if i.__class__ is not tuple]
            if not items:
                return failures
            lo = min(items)
            hi = max(items)
        lo = int(lo)
        hi = int(hi)
        tracker = self.tracker
        with self.seq_lock:
            if lo == tracker.confirmed + 1 and hi - lo + 1 == len(items):
                tracker.confirm_upto(hi)  # each number is reported once: a complete run
            else:
                confirm = tracker.confirm
                for seq in sorted(items):
                    confirm(int(seq))
        return failures
