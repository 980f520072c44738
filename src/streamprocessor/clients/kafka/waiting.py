"""Acknowledged offsets waiting for deliveries: the Kafka consumer's side of the ack barrier.

``ack`` appends one entry per acknowledgement to its partition's ``acks`` list, holding
the barrier's mark taken at that moment:

- ``offset`` (an int): no producer had undelivered sends — nothing to wait for;
- ``(offset, tracker, number)``: one producer open (the usual processor) — wait until
  it confirmed its send ``number``;
- ``(offset, marks)``: several producers — wait until every mark is reached.

The consumer takes each partition's entries in bulk (:meth:`WaitingAcks.release`), once
per fetched batch and whenever it must (backlog, nack, revoke, close, the offset
ticker), and gets back the offsets that may be applied now; the others wait here for
the next call. The usual shapes are handled without a Python loop per entry: a window
of bare offsets is ready as it is, and a window waiting on one producer is split where
its numbers pass what the producer confirmed (``bisect``). Applying ready offsets ahead
of earlier ones still waiting is safe: a partition's position only moves over its
acknowledged prefix.
"""

from __future__ import annotations

import threading
from bisect import bisect_right
from operator import itemgetter
from typing import Any

from streamprocessor.clients.barrier import DeliveryTracker, marks_reached

__all__ = ["WaitingAcks", "split"]

_READY: Any = object()  # (in ``WaitingAcks.release``: a window of bare offsets)
_OFFSET = itemgetter(0)
_NUMBER = itemgetter(2)


def split(entries: list[Any]) -> tuple[list[int], list[Any]]:
    """Return (offsets that may be applied now, entries that must still wait)."""
    first = entries[0]
    last = entries[-1]
    if first.__class__ is int and last.__class__ is int and set(map(type, entries)) == {int}:
        return entries, []
    one = _one_producer(entries)
    if one is not None:
        tracker, offsets, numbers = one
        ready, rest_o, rest_n = _split_numbers(tracker, offsets, numbers)
        return ready, [(o, tracker, n) for o, n in zip(rest_o, rest_n, strict=True)]
    return _split_each(entries)


def _one_producer(entries: list[Any]) -> tuple[DeliveryTracker, list[int], list[int]] | None:
    """``(tracker, offsets, numbers)`` when every entry waits on the same one producer."""
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
    # a tracker never comes back once another one was alone, so first and last being the
    # same one producer means all are, if all have that shape
    try:
        if set(map(len, entries)) != {3}:
            return None
    except TypeError:  # a bare offset in between
        return None
    return first[1], list(map(_OFFSET, entries)), list(map(_NUMBER, entries))


def _split_numbers(
    tracker: DeliveryTracker, offsets: list[int], numbers: list[int]
) -> tuple[list[int], list[int], list[int]]:
    """Split acks waiting on one producer where its confirmations end.

    Returns (ready offsets, offsets still waiting, their send numbers).
    """
    done = tracker.confirmed
    k = bisect_right(numbers, done)
    # numbers grow in ack order, unless acks from several threads interleaved them
    if k and max(numbers[:k]) > done:
        ready: list[int] = []
        rest_o: list[int] = []
        rest_n: list[int] = []
        for off, seq in zip(offsets, numbers, strict=True):
            if seq <= done:
                ready.append(off)
            else:
                rest_o.append(off)
                rest_n.append(seq)
    elif k:
        ready, rest_o, rest_n = offsets[:k], offsets[k:], numbers[k:]
    else:
        ready, rest_o, rest_n = [], offsets, numbers
    return ready, rest_o, rest_n


def _split_each(entries: list[Any]) -> tuple[list[int], list[Any]]:
    ready: list[int] = []
    rest: list[Any] = []
    for e in entries:
        if e.__class__ is int:
            ready.append(e)
        elif len(e) == 3:
            if e[1].confirmed >= e[2]:
                ready.append(e[0])
            else:
                rest.append(e)
        elif marks_reached(e[1]):
            ready.append(e[0])
        else:
            rest.append(e)
    return ready, rest


class WaitingAcks:
    """Per partition, the acknowledgements whose sends are not delivered yet.

    Acks waiting on one producer are kept as two lists of ints (offsets and send
    numbers) rather than an object per ack: they may wait a while (``linger.ms``), and
    the garbage collector would walk them again and again.
    """

    __slots__ = ("_lock", "q")

    def __init__(self) -> None:
        #: ``(state, tracker, offsets, numbers)`` (one producer) or ``(state, None,
        #: entries, None)`` (anything else), in the order they were taken
        self.q: list[tuple[Any, Any, list[Any], Any]] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return sum(len(item[2]) for item in self.q)

    def release(self, windows: list[tuple[Any, list[Any]]]) -> list[tuple[Any, list[int]]]:
        """Add ``windows`` of new entries; return ``(state, offsets)`` that may be applied.

        The acks already waiting are looked at first, so a partition's offsets come out
        in the order they were acknowledged whenever their sends are delivered in order.
        """
        with self._lock:
            todo = self.q
            self.q = []
            out: list[tuple[Any, list[int]]] = []
            for state, entries in windows:
                first = entries[0]
                if first.__class__ is int and set(map(type, entries)) == {int}:
                    todo.append((state, _READY, entries, None))  # no marks: ready
                    continue
                one = _one_producer(entries)
                todo.append((state, *one) if one is not None else (state, None, entries, None))
            for state, tracker, items, numbers in todo:
                if tracker is _READY:
                    ready = items
                elif tracker is None:
                    ready, rest = _split_each(items)
                    if rest:
                        self.q.append((state, None, rest, None))
                else:
                    ready, rest_o, rest_n = _split_numbers(tracker, items, numbers)
                    if rest_o:
                        self.q.append((state, tracker, rest_o, rest_n))
                if ready:
                    out.append((state, ready))
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
        """Forget every waiting ack; return how many there were."""
        with self._lock:
            n = sum(len(item[2]) for item in self.q)
            self.q = []
            return n
