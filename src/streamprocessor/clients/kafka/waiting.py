"""Acks waiting for one producer's deliveries: the ack barrier's common case, made cheap.

In the usual processor one producer is open and ``producer.send(out); consumer.ack(msg)``
runs per message: every ack must wait until that producer confirmed its last send. The
foundation's general barrier (marks over every open producer) costs a tuple of tuples
and a scan per ack; with exactly one producer the mark is one number. An ack is queued
here as ``(tracker, number, token)`` in a deque and released in bulk once the tracker has
confirmed that far. Several producers, or acks already waiting in the general queue, go
the general way.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from streamprocessor.clients.barrier import DeliveryTracker

__all__ = ["WaitingAcks"]


class WaitingAcks:
    """Tokens waiting until one tracker confirms a send number, in ack order."""

    __slots__ = ("_lock", "q")

    def __init__(self) -> None:
        #: ``(tracker, number, token)``; appended by ``ack`` (atomic), taken under the lock
        self.q: deque[tuple[DeliveryTracker, int, Any]] = deque()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.q)

    def ready(self) -> list[Any]:
        """Remove and return the tokens whose sends are confirmed, oldest first.

        Stops at the first that must still wait (numbers grow with time, so the later
        ones almost always wait too; one that does not is released at the next call).
        """
        q = self.q
        if not q:
            return []
        out: list[Any] = []
        with self._lock:
            while q:
                tracker, seq, token = q[0]
                if tracker.confirmed < seq:
                    break
                q.popleft()
                out.append(token)
        return out

    def trackers(self) -> list[DeliveryTracker]:
        """Return the trackers that waiting tokens still wait on."""
        with self._lock:
            seen: dict[int, DeliveryTracker] = {}
            for tracker, seq, _ in self.q:
                if tracker.confirmed < seq:
                    seen[id(tracker)] = tracker
            return list(seen.values())

    def drop_all(self) -> list[Any]:
        """Remove and return every waiting token."""
        with self._lock:
            out = [token for _, _, token in self.q]
            self.q.clear()
            return out
