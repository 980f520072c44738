"""Acknowledgements waiting for deliveries: the Kafka consumer's side of the ack barrier.

``ack`` appends one entry per acknowledgement to its partition's ``acks`` list, holding
the barrier's mark taken at that moment:

- ``offset`` (an int): no producer was open — nothing to wait for;
- ``(offset, tracker, number)``: one producer open (the usual processor) — wait until it
  confirmed its sends up to ``number``;
- ``(offset, marks)``: several producers — wait until every mark is reached.

The consumer takes each partition's entries in bulk, once per fetched batch and whenever
it must (backlog, nack, revoke, close, the offset ticker), and hands them to
:meth:`WaitingAcks.release`, which returns the offsets that may be applied now.

Acknowledgements are released in order (first in, first out), as one queue per consumer:
an ack that cannot be released holds back every later one — also on other partitions —
so when a producer closes with sends it never delivered, no ack taken after those sends
is ever committed by this consumer. (The entries of one batch come per partition; their
order across partitions is not kept, and the partition taken first goes first.)

The usual shapes need no Python loop per entry: a window of bare offsets is ready as it
is, and a window waiting on one producer is kept as two lists of ints (offsets and send
numbers) and released up to where the producer's confirmations end (``bisect``). Keeping
ints rather than an object per ack matters: acks may wait a while (``linger.ms``), and the
garbage collector would walk the objects again and again.
"""

from __future__ import annotations

import threading
from bisect import bisect_right
from operator import itemgetter
from typing import Any

from streamprocessor.clients.barrier import DeliveryTracker, marks_reached

__all__ = ["WaitingAcks", "split"]

_OFFSET = itemgetter(0)
_NUMBER = itemgetter(2)


def _one_producer(entries: list[Any]) -> DeliveryTracker | None:
    """Return the producer every entry waits on, when all wait on the same one."""
    first = entries[0]
    last = entries[-1]
    if not (
        first.__class__ is tuple
        and last.__class__ is tuple
        and len(first) == 3
        and len(last) == 3
        and first[1] is last[1]
    ):
        return None
    # a tracker never comes back once another one was alone, so when the first and the
    # last entry wait on the same one, all do — if all have that shape
    try:
        if set(map(len, entries)) != {3}:
            return None
    except TypeError:  # a bare offset in between
        return None
    tracker: DeliveryTracker = first[1]
    return tracker


def _ready_numbers(tracker: DeliveryTracker, numbers: list[int]) -> int:
    """Return how many of the first ``numbers`` the producer has confirmed."""
    done = tracker.confirmed
    k = bisect_right(numbers, done)
    # numbers grow in ack order, unless acks from several threads interleaved them
    if k and max(numbers[:k]) > done:
        k = next(i for i, n in enumerate(numbers) if n > done)
    return k


def _ready_entries(entries: list[Any]) -> int:
    """Return how many of the first ``entries`` may be applied (any shapes)."""
    for i, e in enumerate(entries):
        if e.__class__ is int:
            continue
        if len(e) == 3:
            if e[1].confirmed < e[2]:
                return i
        elif not marks_reached(e[1]):
            return i
    return len(entries)


def split(entries: list[Any]) -> tuple[list[int], list[Any]]:
    """Return (the offsets of the entries that may be applied now, the rest, in order)."""
    tracker = _one_producer(entries)
    if tracker is not None:
        k = _ready_numbers(tracker, list(map(_NUMBER, entries)))
    else:
        k = _ready_entries(entries)
    ready = entries[:k]
    return [e if e.__class__ is int else e[0] for e in ready], entries[k:]


class WaitingAcks:
    """The consumer's acknowledgements not applied yet, in order."""

    __slots__ = ("_lock", "q")

    def __init__(self) -> None:
        #: ``(state, tracker, offsets, numbers)`` — waiting on one producer, as ints —
        #: or ``(state, None, entries, None)`` — any shapes —, oldest first
        self.q: list[tuple[Any, Any, list[Any], Any]] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return sum(len(item[2]) for item in self.q)

    def release(self, windows: list[tuple[Any, list[Any]]]) -> list[tuple[Any, list[int]]]:
        """Queue ``windows`` of new entries; return ``(state, offsets)`` to apply, in order.

        Stops at the first acknowledgement that must still wait.
        """
        with self._lock:
            q = self.q
            for state, entries in windows:
                tracker = _one_producer(entries)
                if tracker is not None:
                    q.append(
                        (state, tracker, list(map(_OFFSET, entries)), list(map(_NUMBER, entries)))
                    )
                else:
                    q.append((state, None, entries, None))
            out: list[tuple[Any, list[int]]] = []
            done = 0
            for state, tracker, items, numbers in q:
                if tracker is None:
                    if items[-1].__class__ is int and set(map(type, items)) == {int}:
                        k = len(items)
                        ready = items
                    else:
                        k = _ready_entries(items)
                        ready = [e if e.__class__ is int else e[0] for e in items[:k]]
                else:
                    k = _ready_numbers(tracker, numbers)
                    ready = items[:k]
                if ready:
                    out.append((state, ready))
                if k < len(items):  # the rest of this one, and everything after, waits
                    q[done] = (
                        (state, None, items[k:], None)
                        if tracker is None
                        else (state, tracker, items[k:], numbers[k:])
                    )
                    break
                done += 1
            del q[:done]
            return out

    def trackers(self) -> list[DeliveryTracker]:
        """Return the producers' trackers that waiting acks still wait on."""
        seen: dict[int, DeliveryTracker] = {}
        with self._lock:
            for _, tracker, items, numbers in self.q:
                if tracker is not None:
                    if tracker.confirmed < max(numbers):
                        seen[id(tracker)] = tracker
                    continue
                for e in items:
                    if e.__class__ is int:
                        continue
                    marks = ((e[1], e[2]),) if len(e) == 3 else e[1]
                    for t, seq in marks:
                        if t.confirmed < seq:
                            seen[id(t)] = t
        return list(seen.values())

    def drop_all(self) -> int:
        """Forget every waiting acknowledgement; return how many there were."""
        with self._lock:
            n = sum(len(item[2]) for item in self.q)
            self.q = []
            return n
