"""The ack barrier: an acknowledgement is committed only after earlier sends are delivered.

Every open producer owns a :class:`DeliveryTracker` registered in an :class:`AckBarrier`:
the process-wide :data:`BARRIER` unless one was passed in (``options.ack_barrier``); a
consumer's acks wait on the producers of its own barrier only. Sends are numbered 1, 2,
3, … per producer; ``confirmed`` is the highest number below which every send is
delivered. When a consumer acknowledges a message it
takes :meth:`AckBarrier.marks` — for each producer with undelivered sends, a number at or
above that of its last send (:meth:`DeliveryTracker.mark`) — and commits the
acknowledgement only once every such producer has confirmed that far. With no undelivered
sends anywhere the ack is committable at once.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from streamprocessor.stream.message import Message

__all__ = ["BARRIER", "AckBarrier", "DeliveryTracker", "Marks", "PendingAcks", "RefusedSend"]


class DeliveryTracker:
    """Send numbers and delivery confirmations of one producer.

    The producer calls :meth:`next_seq` under its own lock when it sends, and
    :meth:`confirm` (out-of-order deliveries) or :meth:`confirm_upto` (everything up to a
    number, e.g. after a buffer write) when deliveries are confirmed. ``flush`` is the
    producer's flush, which the consumer calls on close before its final commit.

    A producer that numbers its sends another way says how instead of calling
    ``next_seq`` (so a send costs no counter update): ``count`` returns how many sends
    were made (a buffer: values written + values in it), or ``mark(tracker)`` takes a
    number that every earlier send is below (sends numbered from a shared sequence), and
    ``pending`` says how many are not delivered.
    """

    __slots__ = ("_ahead", "_count", "_mark", "_pending", "_sent", "blocked", "confirmed",
                 "flush", "name")  # fmt: skip

    def __init__(
        self,
        name: str,
        flush: Callable[[float | None], Any],
        *,
        count: Callable[[], int] | None = None,
        mark: Callable[[DeliveryTracker], int] | None = None,
        pending: Callable[[], int] | None = None,
    ) -> None:
        self.name = name
        self.flush = flush
        self._sent = 0
        self._count = count
        self._mark = mark
        self._pending = pending
        self.confirmed = 0
        self._ahead: set[int] = set()
        #: the first send whose delivery failed for good (None: none did): ``confirmed``
        #: never reaches it, so no mark at or after it is ever reached
        self.blocked: int | None = None

    @property
    def sent(self) -> int:
        """How many sends were made (numbered) so far."""
        return self._sent if self._count is None else self._count()

    def next_seq(self) -> int:
        """Number the next send (call under the producer's lock)."""
        self._sent += 1
        return self._sent

    def confirm(self, seq: int) -> None:
        """Record that send ``seq`` is delivered (any order; one thread at a time)."""
        if seq == self.confirmed + 1:
            c = seq
            ahead = self._ahead
            while ahead and (c + 1) in ahead:
                c += 1
                ahead.discard(c)
            self.confirmed = c
        elif seq > self.confirmed and (self.blocked is None or seq < self.blocked):
            self._ahead.add(seq)  # (past a failed send: never needed, not kept)

    def fail(self, seq: int) -> None:
        """Record that send ``seq`` will never be delivered (its delivery failed)."""
        if seq > self.confirmed and (self.blocked is None or seq < self.blocked):
            self.blocked = seq
            self._ahead = {s for s in self._ahead if s < seq}

    def confirm_upto(self, seq: int) -> None:
        """Record that every send up to ``seq`` is delivered."""
        if self.blocked is not None:
            seq = min(seq, self.blocked - 1)
        if seq > self.confirmed:
            self.confirmed = seq
            if self._ahead:
                self._ahead = {s for s in self._ahead if s > seq}
                while (self.confirmed + 1) in self._ahead:
                    self.confirmed += 1
                    self._ahead.discard(self.confirmed)

    @property
    def pending(self) -> int:
        """How many sends are not confirmed yet."""
        if self._pending is not None:
            return self._pending()
        return self.sent - self.confirmed - len(self._ahead)

    def mark(self) -> int:
        """Return the number an acknowledgement made now waits for (0: none).

        Every send made before this call has a number at or below it.
        """
        if self._mark is not None:
            return self._mark(self)
        sent = self.sent
        return sent if sent > self.confirmed else 0


Marks = tuple[tuple[DeliveryTracker, int], ...]


class RefusedSend:
    """A send the backend refused for good, sent alone: the message's fault, not the client's.

    A producer hands it to the callback its owner registered (``on_refused``). Until
    :meth:`release` the send counts as undelivered: no acknowledgement made after it is
    committed, so the owner can still leave the input behind it unacknowledged.
    """

    __slots__ = ("_release", "error", "message", "number", "tracker")

    def __init__(
        self,
        message: Message,
        error: Exception,
        tracker: DeliveryTracker,
        number: int,
        release: Callable[[], None],
    ) -> None:
        #: what was refused (``producer_topic`` is the topic it was sent to)
        self.message = message
        #: why, and what to do about it (an InvalidMessageError)
        self.error = error
        #: the tracker of the producer that sent it, and the send's number there: every
        #: acknowledgement whose mark on ``tracker`` is at or above ``number`` waits for it
        self.tracker = tracker
        self.number = number
        self._release = release

    def release(self) -> None:
        """Count the send as done: the acknowledgements waiting on it may be committed."""
        self._release()

    def __repr__(self) -> str:
        return f"<RefusedSend {self.tracker.name} #{self.number}: {self.error}>"


#: how many barriers have producers registered (a consumer whose barrier has none while
#: this is not 0 may have been given the wrong barrier)
_WITH_PRODUCERS = [0]
_COUNT_LOCK = threading.Lock()


class AckBarrier:
    """A set of producer trackers that consumers' acknowledgements wait on.

    :data:`BARRIER` is the process-wide one; pass another with ``options.ack_barrier`` to
    the consumer *and* the producers its acks must wait for (tests, several independent
    pipelines in one process).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._trackers: tuple[DeliveryTracker, ...] = ()
        self._warned = False

    def register(self, tracker: DeliveryTracker) -> None:
        """Add a producer's tracker (on open)."""
        with self._lock:
            if not self._trackers:
                _count(1)
            self._trackers = (*self._trackers, tracker)

    def unregister(self, tracker: DeliveryTracker) -> None:
        """Remove a producer's tracker (on close, after its final flush)."""
        with self._lock:
            had = bool(self._trackers)
            self._trackers = tuple(t for t in self._trackers if t is not tracker)
            if had and not self._trackers:
                _count(-1)

    def marks(self) -> Marks:
        """Return (tracker, mark) for every producer with undelivered sends."""
        trackers = self._trackers
        if not trackers:
            if _WITH_PRODUCERS[0] and not self._warned:
                self._warn_elsewhere()
            return ()
        return tuple((t, m) for t in trackers if (m := t.mark()))

    def _warn_elsewhere(self) -> None:
        self._warned = True
        logging.getLogger("streamprocessor").warning(
            "A consumer acknowledged messages while its ack barrier has no producer but "
            "producers of another ack barrier are open: its commits do not wait for their "
            "sends. Pass the same options.ack_barrier(...) to the consumer and to the "
            "producers its acknowledgements must wait for."
        )

    @property
    def trackers(self) -> tuple[DeliveryTracker, ...]:
        """The registered trackers."""
        return self._trackers


def _count(step: int) -> None:
    with _COUNT_LOCK:
        _WITH_PRODUCERS[0] += step


#: the process-wide barrier every client uses unless given another
BARRIER = AckBarrier()


def marks_reached(marks: Marks) -> bool:
    """Return whether every producer in ``marks`` has confirmed up to its mark."""
    return all(t.confirmed >= seq for t, seq in marks)


def marks_unreachable(marks: Marks) -> bool:
    """Return whether some mark is at or after a send whose delivery failed for good."""
    return any(t.blocked is not None and seq >= t.blocked for t, seq in marks)


class PendingAcks:
    """Acknowledgements waiting for the barrier, in ack order.

    Marks only grow with time, so when the oldest pending ack is not ready no later one
    is: :meth:`ready` pops from the front and stops at the first that must wait.
    """

    def __init__(self) -> None:
        self._q: deque[tuple[Marks, Any]] = deque()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._q)

    def __bool__(self) -> bool:
        return bool(self._q)

    def add(self, marks: Marks, token: Any) -> None:
        """Queue ``token`` until ``marks`` are reached."""
        with self._lock:
            self._q.append((marks, token))

    def add_all(self, marks: Marks, tokens: list[Any]) -> None:
        """Queue ``tokens`` (in order) until ``marks`` are reached."""
        with self._lock:
            self._q.extend([(marks, tok) for tok in tokens])

    def ready(self) -> list[Any]:
        """Pop and return the tokens whose marks are reached, oldest first."""
        return self._pop_while(marks_reached)

    def _pop_while(self, test: Callable[[Marks], bool]) -> list[Any]:
        out: list[Any] = []
        with self._lock:
            q = self._q
            while q and test(q[0][0]):
                out.append(q.popleft()[1])
        return out

    def drain(self, apply: Callable[[list[Any]], None]) -> list[Any]:
        """Hand the ready tokens to ``apply`` (oldest first); drop and return the dead.

        Dead tokens wait for a send that failed for good (:meth:`drop_unreachable`);
        dropping them can make the ones behind them ready, so this repeats until it
        drops nothing.
        """
        dead: list[Any] = []
        while True:
            ready = self.ready()
            if ready:
                apply(ready)
            dropped = self.drop_unreachable()
            if not dropped:
                return dead
            dead += dropped

    def drop_unreachable(self) -> list[Any]:
        """Pop and return the oldest tokens that can never be committed.

        Their marks wait for a send whose delivery failed for good. While the failed
        producer stays open every later mark is past that send too, so this keeps the
        queue (and what it holds) from growing without bound.
        """
        return self._pop_while(marks_unreachable)

    def tokens(self) -> list[Any]:
        """Return the pending tokens, oldest first (they stay pending)."""
        with self._lock:
            return [tok for _, tok in self._q]

    def trackers(self) -> list[DeliveryTracker]:
        """Return the trackers the pending acks wait on."""
        with self._lock:
            seen: dict[int, DeliveryTracker] = {}
            for marks, _ in self._q:
                for t, seq in marks:
                    if t.confirmed < seq:
                        seen[id(t)] = t
            return list(seen.values())

    def drop_all(self) -> list[Any]:
        """Remove and return every pending token (those that can never be committed)."""
        with self._lock:
            out = [tok for _, tok in self._q]
            self._q.clear()
            return out
