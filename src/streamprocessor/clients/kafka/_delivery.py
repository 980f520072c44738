"""Delivery reports of a producer → its ack-barrier tracker, in bulk.

Every message gets its own delivery callback holding its send number: one function per
producer (:func:`recorder`) bound to the number, ``MethodType(record, number)`` — made
by C, and called by librdkafka without a Python ``__call__`` lookup. ``send`` takes the
next one from :attr:`Deliveries.numbers` (``map(MethodType, repeat(record), count(1))``:
one step in C, so no lock is needed to number sends from several threads). librdkafka
runs the callbacks inside ``poll``/``flush``; a callback only appends its number (or
``(number, error, record)`` on failure) to a deque. Right after each poll
:meth:`Deliveries.settle` moves the whole deque into the tracker (and hands the failures
to the producer, which sends them again or fails them): when the numbers form
one complete run after what was confirmed before — the normal case, whatever order the
partitions reported in — that is a single ``confirm_upto``.

Without a counter to read, the ack barrier's mark is a number taken from the same
sequence (:func:`taker`): every send made before has a lower one, and no
message ever has it, so it is confirmed at once.

All polling goes through :attr:`Deliveries.serve_lock`, so no callback runs while the
deque is being taken.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from itertools import count, repeat
from types import MethodType
from typing import Any

from streamprocessor.util.barrier import DeliveryTracker

__all__ = ["Deliveries", "recorder", "taker"]


def recorder(done: deque[Any]) -> Callable[[int, Any, Any], None]:
    """Return the function every delivery callback of one producer calls.

    A callback is this function bound to the message's send number
    (``MethodType(record, number)``): librdkafka calls it with ``(err, msg)`` from
    ``poll``/``flush``, and it appends the number — or ``(number, err, msg, None, 0)`` on
    failure — to ``done``.
    """
    append = done.append

    def record(number: int, err: Any, msg: Any) -> None:
        if err is None:
            append(number)
        else:
            append((number, err, msg, None, 0))

    return record


def carrier(done: deque[Any]) -> Callable[[tuple[int, Any, int], Any, Any], None]:
    """As :func:`recorder`, for a send with headers or a timestamp.

    A failed delivery report holds neither (librdkafka 2.16: ``headers()`` None,
    ``timestamp()`` ``(0, -1)``), so the callback is bound to ``(number, headers,
    milliseconds)`` and a failure appends ``(number, err, msg, headers, milliseconds)``.
    ``headers`` is the message's own tags dict (a tag changed after the send is sent
    changed if the message has to be sent again).
    """
    append = done.append

    def record(fields: tuple[int, Any, int], err: Any, msg: Any) -> None:
        if err is None:
            append(fields[0])
        else:
            append((fields[0], err, msg, fields[1], fields[2]))

    return record


def taker(numbers: Iterator[Any], lock: threading.Lock) -> Callable[[DeliveryTracker], int]:
    """Return the ``mark`` of a tracker whose sends take their numbers from ``numbers``.

    A mark is a number of its own: every earlier send has a lower one; no message has it,
    so it is confirmed at once; 0 when every send is confirmed.
    """

    def mark(tracker: DeliveryTracker) -> int:
        with lock:
            n: int = next(numbers).__self__
            tracker.confirm(n)
            return n if tracker.confirmed < n else 0

    return mark


class Deliveries:
    """Numbers one producer's sends; collects their reports and confirms them."""

    def __init__(
        self, name: str, flush: Callable[[float | None], Any], outstanding: Callable[[], int]
    ) -> None:
        #: the tracker changes only under this lock
        self.seq_lock = threading.Lock()
        #: held by whoever polls or flushes the librdkafka handle
        self.serve_lock = threading.Lock()
        self.done: deque[Any] = deque()
        self._record = recorder(self.done)
        #: what the callback of a send with headers or a timestamp is bound to, with them
        self.carry = carrier(self.done)
        #: the send numbers: a send with headers or a timestamp takes ``next(counter)``
        self.counter = count(1)
        #: the delivery callbacks of the other sends, numbered from the same counter (the
        #: number is the callback's ``__self__``): ``next(numbers)`` per send
        self.numbers: Iterator[Any] = map(MethodType, repeat(self._record), self.counter)
        self.tracker = DeliveryTracker(
            name, flush, mark=taker(self.numbers, self.seq_lock), pending=outstanding
        )

    def report(self, number: int, headers: Any, ms: int) -> Any:
        """The delivery callback of send ``number`` (with these headers and timestamp)."""
        if headers or ms:
            return MethodType(self.carry, (number, headers, ms))
        return MethodType(self._record, number)

    def confirm(self, number: int) -> None:
        """Record send ``number`` as done (delivered, never sent, or dealt with)."""
        with self.seq_lock:
            self.tracker.confirm(number)

    def fail(self, number: int) -> None:
        """Record that send ``number`` will never be delivered."""
        with self.seq_lock:
            self.tracker.fail(number)  # (the acks waiting on it can never be committed)

    def settle(self) -> list[tuple[int, Any, Any, Any, int]]:
        """Confirm the delivered numbers; return the failures.

        A failure is ``(number, error, record, headers, milliseconds)`` (the last two as
        sent: the record lacks them); it stays unconfirmed: the caller sends it again or
        calls :meth:`fail`. Call with :attr:`serve_lock` held (no callback may run meanwhile).
        """
        done = self.done
        if not done:
            return []
        items = list(done)
        done.clear()
        failures: list[tuple[int, Any, Any, Any, int]] = []
        try:
            lo = min(items)  # comparing a number with a failure tuple raises TypeError
            hi = max(items)
            mixed = lo.__class__ is tuple  # (a lone failure compares with nothing)
        except TypeError:
            mixed = True
        tracker = self.tracker
        if mixed:
            failures = [i for i in items if i.__class__ is tuple]
            items = [i for i in items if i.__class__ is not tuple]
            if not items:
                return failures
            lo = min(items)
            hi = max(items)
        with self.seq_lock:
            # numbers the barrier took as marks are confirmed already (``_ahead``)
            ahead = tracker._ahead
            marks = sum(1 for a in ahead if lo < a < hi) if 0 < len(ahead) < 4096 else 0
            if lo == tracker.confirmed + 1 and hi - lo + 1 == len(items) + marks:
                tracker.confirm_upto(hi)  # each number is reported once: a complete run
            else:
                confirm = tracker.confirm
                for seq in sorted(items):
                    confirm(int(seq))
        return failures
