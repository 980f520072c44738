"""What the conformance suite is made of: features, harnesses, helpers (see ``conformance``).

Private: import these names from :mod:`streamprocessor.testing.conformance`.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

import pytest

from streamprocessor.stream import (
    Consumer,
    FlushTimeoutError,
    Message,
    Producer,
    StreamProcessorError,
)
from streamprocessor.util.barrier import BARRIER, AckBarrier, DeliveryTracker
from streamprocessor.util.interrupts import COORDINATOR, ShutdownCoordinator

__all__ = [
    "ALL_FIELDS",
    "UNSENDABLE",
    "Features",
    "Harness",
    "HeldProducer",
    "ack_barrier",
    "collect",
    "coordinator",
    "fill",
    "next_error",
    "raised",
    "send_all",
    "signal_now",
    "signals",
    "stays",
    "take",
    "values",
    "within",
]

ALL_FIELDS = frozenset({"value", "key", "timestamp", "tags", "offset", "consumer_topic"})


@dataclass(frozen=True)
class Features:
    """What a client promises; the suite skips (visibly) what is not claimed."""

    #: message fields that survive producer → consumer
    fields: frozenset[str] = ALL_FIELDS
    #: acknowledged messages are not delivered again to a new consumer
    persistent_acks: bool = True
    #: unacknowledged messages are delivered again to a new consumer
    redelivers_unacked: bool = True
    #: backlog() counts unacknowledged messages down to zero
    backlog: bool = True
    #: values may contain any bytes (a line-based client cannot carry newlines)
    binary_values: bool = True
    #: value=None (a tombstone) round-trips
    tombstones: bool = True
    #: messages of one key arrive in the order sent
    ordering_per_key: bool = True
    #: the consumer ends its iteration by itself once the source is exhausted
    finite: bool = False
    #: acknowledgements are committed, each only once the sends made before it (on the
    #: producers of its ack barrier) are confirmed
    ack_barrier: bool = True
    #: what ``nack(msg)`` brings back: ``"rewind"`` — ``msg`` and every later message of
    #: its partition, in order (Kafka); ``"requeue"`` — ``msg`` alone, next (stdin, memory)
    nack: Literal["rewind", "requeue"] = "rewind"
    #: the harness can break a client's backend (:meth:`Harness.provoke_fatal`)
    fatal_errors: bool = True
    #: a SIGTERM ends iteration after the message in hand (interrupt handling)
    signal_stop: bool = True


#: messages with a field no producer can send, each with the field it names
UNSENDABLE: tuple[tuple[str, Any], ...] = (
    ("value", {"value": "text"}),
    ("key", {"key": 7}),
    ("timestamp", {"timestamp": 1_700_000_000}),
    ("tags", {"tags": [("a", b"1")]}),
    ("tag key", {"tags": {1: b"1"}}),
    ("tag 'n'", {"tags": {"n": 5}}),
    ("tag key 'a\\x00b'", {"tags": {"a\0b": b"1"}}),
    ("producer_topic", {"producer_topic": 5}),
    ("producer_topic 't\\udcff'", {"producer_topic": "t\udcff"}),
)


@dataclass
class Harness:
    """How the suite makes clients of one type; subclass and override the methods."""

    features: Features = field(default_factory=Features)
    #: bound for every wait in the suite, in seconds
    timeout: float = 10.0

    def new_producer(self, *options: Any) -> Producer:
        """Return a producer writing to this harness's fresh topic/store."""
        raise NotImplementedError

    def new_consumer(self, *options: Any) -> Consumer:
        """Return a consumer of this harness's topic/store.

        Each call makes a new member of the same group, so acknowledged positions carry
        over from one consumer to the next.
        """
        raise NotImplementedError

    def new_breakable_consumer(self, *options: Any) -> Consumer:
        """Return a consumer as :meth:`new_consumer` does that :meth:`provoke_fatal` can break.

        Override it when breaking a consumer needs something at its creation (Kafka: a
        second subscribed topic, to be deleted).
        """
        return self.new_consumer(*options)

    def new_breakable_producer(self, *options: Any) -> Producer:
        """Return a producer as :meth:`new_producer` does that :meth:`provoke_fatal` can break."""
        return self.new_producer(*options)

    def provoke_fatal(self, client: Consumer | Producer) -> None:
        """Break the backend of ``client`` (made by a ``new_breakable_*`` method) for good.

        A real failure of the backend, not a call into the client: from now on its backend
        fails (a closed descriptor, a deleted topic), so that a fetch, or the delivery of a
        send after this, meets a fatal error. Needed when ``features.fatal_errors``.
        """
        raise NotImplementedError

    def ready(self, consumer: Consumer) -> None:
        """Wait until ``consumer`` can count its backlog (Kafka: partitions assigned)."""

    def settle(self) -> None:
        """Wait until what producers sent is visible to new consumers."""

    def close(self) -> None:
        """Release what the harness created."""


def collect(consumer: Consumer, n: int, timeout: float, ack: bool = False) -> list[Message]:
    """Iterate ``consumer`` in a thread until ``n`` messages, end of stream or ``timeout``.

    Returns what arrived. The consumer is not closed; when the time is up the iterating
    thread is left waiting on the consumer (close the consumer to end it).
    """
    out: queue.SimpleQueue[Message | None] = queue.SimpleQueue()
    stop = threading.Event()

    def run() -> None:
        try:
            for m in consumer:
                if ack:
                    consumer.ack(m)
                out.put(m)
                if stop.is_set():
                    break
        except StreamProcessorError:
            pass
        finally:
            out.put(None)

    threading.Thread(target=run, daemon=True, name="conformance-collect").start()
    got: list[Message] = []
    deadline = time.monotonic() + timeout
    while len(got) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            m = out.get(timeout=left)
        except queue.Empty:
            break
        if m is None:
            break
        got.append(m)
    stop.set()
    return got


def within(timeout: float, fn: Callable[[Consumer], None], consumer: Consumer) -> None:
    """Run ``fn(consumer)`` in a thread; fail if it raises or is not done in ``timeout``.

    (A consumer that lost a message would wait for it forever.) On timeout the consumer
    is closed, which ends the iteration.
    """
    errors: list[BaseException] = []

    def run() -> None:
        try:
            fn(consumer)
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=run, daemon=True, name="conformance-within")
    t.start()
    t.join(timeout)
    if t.is_alive():
        consumer.close()
        pytest.fail(f"not done within {timeout:g}s (a message was lost or came late)")
    if errors:
        raise errors[0]


def ack_barrier() -> AckBarrier:
    """The ack barrier the harness's clients use: today the process-wide one."""
    return BARRIER


def coordinator() -> ShutdownCoordinator:
    """The shutdown coordinator the harness's clients use: today the process-wide one."""
    return COORDINATOR


class HeldProducer:
    """A producer whose sends are confirmed only when the test calls :meth:`confirm`.

    It registers its :class:`~streamprocessor.util.barrier.DeliveryTracker` with the ack
    barrier as every producer does, so an ack made after a send here must wait for it.
    Nothing else delivers: ``flush`` raises :class:`FlushTimeoutError` while sends are
    held, and the flush a closing consumer asks of the barrier returns at once, so the
    acks waiting on held sends stay uncommitted.
    """

    def __init__(self, barrier: AckBarrier) -> None:
        self.sent: list[Message] = []
        self._lock = threading.Lock()
        self._tracker = DeliveryTracker("conformance HeldProducer", self._barrier_flush)
        self._barrier = barrier
        barrier.register(self._tracker)

    def send(self, msg: Message) -> None:
        """Take ``msg``; its delivery is confirmed by a later :meth:`confirm`."""
        with self._lock:
            self._tracker.next_seq()
            self.sent.append(msg)

    def confirm(self) -> None:
        """Confirm the delivery of every send so far."""
        with self._lock:
            self._tracker.confirm_upto(self._tracker.sent)

    def flush(self, timeout: float | timedelta | None = None) -> None:
        """Raise :class:`FlushTimeoutError` while sends are not confirmed."""
        if self._tracker.pending:
            raise FlushTimeoutError(
                f"{self._tracker.pending} send(s) held by the test", self._tracker.pending
            )

    def _barrier_flush(self, timeout: float | None) -> None:
        pass  # (deliveries happen only in confirm())

    def errors(self) -> Iterable[BaseException]:
        """No errors."""
        return ()

    def close(self) -> None:
        """Leave the barrier (idempotent)."""
        self._barrier.unregister(self._tracker)

    def __enter__(self) -> HeldProducer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def signals() -> Iterator[ShutdownCoordinator]:
    """The coordinator for a test that sends itself a signal; it never ends the process.

    Its shutdown watchdog (which would end the test session on a client left open) only
    records; afterwards the interrupt is forgotten, so later clients start normally.
    """
    c = coordinator()
    fired: list[int] = []
    saved = c.exit
    c.exit = fired.append
    try:
        yield c
    finally:
        c.reset()
        c.exit = saved
    assert not fired, "the shutdown watchdog fired: a client was still open after the stop"


def signal_now(c: ShutdownCoordinator, sig: signal.Signals, timeout: float) -> None:
    """Send ``sig`` to this process from another thread; return once it was handled."""
    threading.Thread(target=os.kill, args=(os.getpid(), sig), name="conformance-kill").start()
    deadline = time.monotonic() + timeout
    while c.interrupted is None:
        assert time.monotonic() < deadline, f"{sig.name} not handled within {timeout:g}s"
        time.sleep(0.01)  # (the handler runs in this, the main, thread)


def take(c: Consumer, n: int, timeout: float) -> tuple[Iterator[Message], list[Message]]:
    """Take m0 … m{n-1} from a new iterator of ``c``; return it (not read further) and them.

    Unlike :func:`collect`, nothing after them is read from the source.
    """
    it = iter(c)
    got: list[Message] = []
    within(timeout, lambda _: got.extend(next(it) for _ in range(n)), c)
    assert values(got) == [b"m%d" % i for i in range(n)]
    return it, got


def stays(check: Callable[[], bool], seconds: float) -> bool:
    """Return whether ``check()`` holds every time it is asked during ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not check():
            return False
        time.sleep(0.05)
    return check()


def raised(fn: Callable[[], object], timeout: float) -> BaseException | None:
    """Run ``fn()`` in a thread; return what it raised (None: nothing); fail after ``timeout``."""
    out: list[BaseException | None] = []

    def run() -> None:
        try:
            fn()
        except BaseException as exc:
            out.append(exc)
        else:
            out.append(None)

    t = threading.Thread(target=run, daemon=True, name="conformance-raised")
    t.start()
    t.join(timeout)
    if not out:
        pytest.fail(f"neither done nor failed within {timeout:g}s")
    return out[0]


def next_error(client: Consumer | Producer, timeout: float) -> BaseException | None:
    """Return the next error on ``client.errors()`` (None: none within ``timeout``)."""
    out: queue.SimpleQueue[BaseException | None] = queue.SimpleQueue()

    def run() -> None:
        out.put(next(iter(client.errors()), None))

    threading.Thread(target=run, daemon=True, name="conformance-errors").start()
    try:
        return out.get(timeout=timeout)
    except queue.Empty:
        return None


def send_all(producer: Producer, msgs: list[Message]) -> None:
    for m in msgs:
        producer.send(m)
    producer.flush(30)


def fill(h: Harness, n: int, key: bytes | None = None) -> None:
    """Send m0 … m{n-1} (with ``key``) through a new producer; wait until they are visible."""
    with h.new_producer() as p:
        send_all(p, [Message(value=b"m%d" % i, key=key) for i in range(n)])
    h.settle()


def values(msgs: list[Message]) -> list[bytes | None]:
    return [m.value for m in msgs]
