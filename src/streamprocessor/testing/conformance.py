"""The conformance suite: the Consumer/Producer contract, written once, run on every client.

A client (ours or yours) plugs in by subclassing :class:`ConformanceSuite` in a test
module and providing a ``harness`` fixture that returns a :class:`Harness`: how to make a
consumer and a producer that meet on one fresh topic/store, and a :class:`Features` record
of what the client promises. Tests of a feature the client does not claim are skipped with
the reason, visibly; nothing is forked per client::

    class TestInmemConformance(ConformanceSuite):
        @pytest.fixture
        def harness(self) -> Harness:
            return InmemHarness()

Every blocking read is bounded by ``Harness.timeout``. The ack-barrier tests use
:class:`HeldProducer`, a producer whose sends are confirmed only when the test says so.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pytest

from streamprocessor.stream import (
    ClientClosedError,
    ClientError,
    Consumer,
    FlushTimeoutError,
    InvalidMessageError,
    ManualErrorsDisabledError,
    Message,
    Producer,
    StreamProcessorError,
)
from streamprocessor.util.barrier import BARRIER, AckBarrier, DeliveryTracker
from streamprocessor.util.interrupts import COORDINATOR, ShutdownCoordinator

__all__ = ["UNSENDABLE", "ConformanceSuite", "Features", "Harness", "HeldProducer", "collect"]

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


def _within(timeout: float, fn: Callable[[Consumer], None], consumer: Consumer) -> None:
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
def _signals() -> Iterator[ShutdownCoordinator]:
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


def _signal_now(c: ShutdownCoordinator, sig: signal.Signals, timeout: float) -> None:
    """Send ``sig`` to this process from another thread; return once it was handled."""
    threading.Thread(target=os.kill, args=(os.getpid(), sig), name="conformance-kill").start()
    deadline = time.monotonic() + timeout
    while c.interrupted is None:
        assert time.monotonic() < deadline, f"{sig.name} not handled within {timeout:g}s"
        time.sleep(0.01)  # (the handler runs in this, the main, thread)


def _take(c: Consumer, n: int, timeout: float) -> tuple[Iterator[Message], list[Message]]:
    """Take m0 … m{n-1} from a new iterator of ``c``; return it (not read further) and them.

    Unlike :func:`collect`, nothing after them is read from the source.
    """
    it = iter(c)
    got: list[Message] = []
    _within(timeout, lambda _: got.extend(next(it) for _ in range(n)), c)
    assert _values(got) == [b"m%d" % i for i in range(n)]
    return it, got


def _stays(check: Callable[[], bool], seconds: float) -> bool:
    """Return whether ``check()`` holds every time it is asked during ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not check():
            return False
        time.sleep(0.05)
    return check()


def _raised(fn: Callable[[], object], timeout: float) -> BaseException | None:
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


def _next_error(client: Consumer | Producer, timeout: float) -> BaseException | None:
    """Return the next error on ``client.errors()`` (None: none within ``timeout``)."""
    out: queue.SimpleQueue[BaseException | None] = queue.SimpleQueue()

    def run() -> None:
        out.put(next(iter(client.errors()), None))

    threading.Thread(target=run, daemon=True, name="conformance-errors").start()
    try:
        return out.get(timeout=timeout)
    except queue.Empty:
        return None


def _send_all(producer: Producer, msgs: list[Message]) -> None:
    for m in msgs:
        producer.send(m)
    producer.flush(30)


def _fill(h: Harness, n: int, key: bytes | None = None) -> None:
    """Send m0 … m{n-1} (with ``key``) through a new producer; wait until they are visible."""
    with h.new_producer() as p:
        _send_all(p, [Message(value=b"m%d" % i, key=key) for i in range(n)])
    h.settle()


def _values(msgs: list[Message]) -> list[bytes | None]:
    return [m.value for m in msgs]


class ConformanceSuite:
    """The contract tests. Subclass it and provide a ``harness`` fixture."""

    @pytest.fixture
    def h(self, harness: Harness) -> Iterator[Harness]:
        """The harness, closed after the test."""
        yield harness
        harness.close()

    def _need(self, h: Harness, flag: str) -> None:
        if not getattr(h.features, flag):
            pytest.skip(f"client does not claim feature {flag!r}")

    # -- round trip ---------------------------------------------------------------------

    def test_round_trip_of_supported_fields(self, h: Harness) -> None:
        """Every field the client claims arrives as it was sent."""
        f = h.features.fields
        sent = [
            Message(
                value=b"value-%d" % i,
                key=b"key-%d" % i if "key" in f else None,
                timestamp=datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)
                if "timestamp" in f
                else None,
                tags={"trace": b"t-%d" % i, "empty": b""} if "tags" in f else {},
            )
            for i in range(5)
        ]
        with h.new_producer() as p:
            _send_all(p, sent)
        h.settle()
        with h.new_consumer() as c:
            got = collect(c, len(sent), h.timeout)
        assert _values(got) == _values(sent)
        for s, g in zip(sent, got, strict=True):
            if "key" in f:
                assert g.key == s.key
            if "timestamp" in f:
                assert g.timestamp == s.timestamp
                assert g.timestamp is not None and g.timestamp.tzinfo is not None
            if "tags" in f:
                assert g.tags == s.tags
            if "offset" in f:
                assert g.offset is not None
        if "offset" in f:
            offsets = [g.offset or 0 for g in got]
            assert offsets == sorted(offsets)

    def test_binary_values_round_trip(self, h: Harness) -> None:
        """Values with newlines, NULs and non-UTF-8 bytes arrive unchanged."""
        self._need(h, "binary_values")
        sent = [Message(value=v) for v in (b"a\nb", b"\x00\xff\xfe", b"", b"\r\n")]
        with h.new_producer() as p:
            _send_all(p, sent)
        h.settle()
        with h.new_consumer() as c:
            got = collect(c, len(sent), h.timeout)
        assert _values(got) == _values(sent)

    def test_tombstone_round_trips(self, h: Harness) -> None:
        """A message with value None arrives with value None."""
        self._need(h, "tombstones")
        with h.new_producer() as p:
            _send_all(p, [Message(value=None, key=b"gone"), Message(value=b"after")])
        h.settle()
        with h.new_consumer() as c:
            got = collect(c, 2, h.timeout)
        assert [m.value for m in got] == [None, b"after"]

    def test_ordering_per_key(self, h: Harness) -> None:
        """Messages of one key arrive in the order they were sent."""
        self._need(h, "ordering_per_key")
        keys = [b"k%d" % (i % 5) for i in range(200)]
        sent = [Message(value=b"%s:%d" % (k, i), key=k) for i, k in enumerate(keys)]
        with h.new_producer() as p:
            _send_all(p, sent)
        h.settle()
        with h.new_consumer() as c:
            got = collect(c, len(sent), h.timeout * 2)
        assert len(got) == len(sent)
        for k in set(keys):
            want = [m.value for m in sent if m.key == k]
            if "key" in h.features.fields:
                have = [m.value for m in got if m.key == k]
            else:
                have = [m.value for m in got if m.value and m.value.startswith(k + b":")]
            assert have == want

    # -- acks and nacks -----------------------------------------------------------------

    def test_ack_then_restart_delivers_nothing_again(self, h: Harness) -> None:
        """Acknowledged messages are not delivered to the next consumer."""
        self._need(h, "persistent_acks")
        with h.new_producer() as p:
            _send_all(p, [Message(value=b"m%d" % i) for i in range(10)])
        h.settle()
        with h.new_consumer() as c:
            got = collect(c, 10, h.timeout, ack=True)
        assert len(got) == 10
        with h.new_producer() as p:
            _send_all(p, [Message(value=b"later")])
        h.settle()
        with h.new_consumer() as c:
            again = collect(c, 1, h.timeout)
        assert _values(again) == [b"later"]

    def test_unacked_messages_are_delivered_again(self, h: Harness) -> None:
        """A new consumer gets what the previous one took but did not acknowledge."""
        self._need(h, "redelivers_unacked")
        with h.new_producer() as p:
            _send_all(p, [Message(value=b"m%d" % i) for i in range(6)])
        h.settle()
        with h.new_consumer() as c:
            got = collect(c, 6, h.timeout)
            assert len(got) == 6
            for m in got[:3]:
                c.ack(m)
        with h.new_consumer() as c:
            again = collect(c, 3, h.timeout)
        assert _values(again) == [b"m3", b"m4", b"m5"]

    def test_out_of_order_ack_never_skips_an_unacked_message(self, h: Harness) -> None:
        """Acknowledging a later message does not commit past an earlier unacked one."""
        self._need(h, "redelivers_unacked")
        with h.new_producer() as p:
            _send_all(p, [Message(value=b"first"), Message(value=b"second")])
        h.settle()
        with h.new_consumer() as c:
            got = collect(c, 2, h.timeout)
            assert _values(got) == [b"first", b"second"]
            c.ack(got[1])
        with h.new_consumer() as c:
            again = collect(c, 1, h.timeout)
        assert _values(again) == [b"first"]

    def test_nack_delivers_the_message_again(self, h: Harness) -> None:
        """After nack the same message comes again, before the ones after it."""
        with h.new_producer() as p:
            _send_all(p, [Message(value=b"a"), Message(value=b"b"), Message(value=b"c")])
        h.settle()
        seen: list[bytes | None] = []
        with h.new_consumer() as c:
            nacked = False
            deadline = time.monotonic() + h.timeout
            for m in c:
                seen.append(m.value)
                if m.value == b"a" and not nacked:
                    nacked = True
                    c.nack(m)
                    continue
                c.ack(m)
                if m.value == b"c" or time.monotonic() > deadline:
                    break
        assert seen[:4] == [b"a", b"a", b"b", b"c"]

    def test_nack_in_the_middle_of_a_fetch_keeps_the_order(self, h: Harness) -> None:
        """A nack hands that message out next, then the ones after it, once each, in order.

        The six messages are fetched together, so the nack lands in the middle of what the
        consumer has taken from its source but not handed out yet.
        """
        n = 6
        with h.new_producer() as p:
            _send_all(p, [Message(value=b"m%d" % i, key=b"k") for i in range(n)])
        h.settle()
        seen: list[bytes | None] = []

        def run(c: Consumer) -> None:
            nacked = False
            for m in c:
                seen.append(m.value)
                if m.value == b"m2" and not nacked:
                    nacked = True
                    c.nack(m)
                    continue
                c.ack(m)
                if m.value == b"m%d" % (n - 1):
                    break

        with h.new_consumer() as c:
            _within(h.timeout * 2, run, c)
        assert seen == [b"m0", b"m1", b"m2", b"m2", b"m3", b"m4", b"m5"]

    def test_nack_brings_back_what_the_client_declares(self, h: Harness) -> None:
        """Nack of the first of three messages handed out, per ``features.nack``.

        ``rewind``: it and the two after it come again, in order, then the rest;
        ``requeue``: it alone comes again, next, then the rest. Nothing else comes twice,
        nothing is lost.
        """
        n = 6
        _fill(h, n, key=b"k")
        rewind = h.features.nack == "rewind"
        again = [b"m0", b"m1", b"m2"] if rewind else [b"m0"]
        want = [b"m0", b"m1", b"m2", *again, b"m3", b"m4", b"m5"]
        seen: list[bytes | None] = []

        def run(c: Consumer) -> None:
            it = iter(c)
            held = [next(it) for _ in range(3)]
            seen.extend(m.value for m in held)
            c.nack(held[0])
            if not rewind:  # (they do not come again)
                c.ack(held[1])
                c.ack(held[2])
            for m in it:
                seen.append(m.value)
                c.ack(m)
                if len(seen) == len(want) and not h.features.finite:
                    break

        with h.new_consumer() as c:
            _within(h.timeout * 2, run, c)
            assert seen == want
            if not h.features.finite:  # nothing more is handed out
                assert _values(collect(c, 1, 0.5)) == []
        if h.features.persistent_acks:  # and nothing stays unacknowledged
            with h.new_producer() as p:
                _send_all(p, [Message(value=b"after", key=b"k")])
            h.settle()
            with h.new_consumer() as c:
                assert _values(collect(c, 1, h.timeout)) == [b"after"]

    def test_iterating_again_after_a_break_skips_nothing(self, h: Harness) -> None:
        """Leaving the loop and iterating again goes on with the next message.

        Also one ``next(iter(c))`` at a time: nothing taken from the source is skipped.
        """
        n = 9
        with h.new_producer() as p:
            _send_all(p, [Message(value=b"m%d" % i, key=b"k") for i in range(n)])
        h.settle()
        seen: list[bytes | None] = []

        def run(c: Consumer) -> None:
            for m in c:
                seen.append(m.value)
                if len(seen) == 3:
                    break
            while len(seen) < 6:
                seen.append(next(iter(c)).value)
            for m in c:
                seen.append(m.value)
                if len(seen) == n:
                    break

        with h.new_consumer() as c:
            _within(h.timeout * 2, run, c)
        assert seen == [b"m%d" % i for i in range(n)]

    def test_backlog_counts_down_to_zero(self, h: Harness) -> None:
        """backlog() is the number of messages not yet acknowledged."""
        self._need(h, "backlog")
        with h.new_producer() as p:
            _send_all(p, [Message(value=b"x%d" % i) for i in range(3)])
        h.settle()
        with h.new_consumer() as c:
            h.ready(c)
            assert c.backlog() == 3
            counts = []
            for m in collect(c, 3, h.timeout):
                c.ack(m)
                counts.append(c.backlog())
        assert counts == [2, 1, 0]

    def test_backlog_is_zero_without_persistence(self, h: Harness) -> None:
        """A client without backlog support reports 0."""
        if h.features.backlog:
            pytest.skip("client counts a backlog")
        with h.new_consumer() as c:
            assert c.backlog() == 0

    def test_ack_of_a_foreign_message_is_an_error(self, h: Harness) -> None:
        """Acknowledging a message the consumer did not hand out raises a clear error."""
        with h.new_consumer() as c, pytest.raises(ClientError):
            c.ack(Message(value=b"made by hand"))

    # -- the ack barrier ----------------------------------------------------------------

    def _three_taken(self, h: Harness, c: Consumer) -> list[Message]:
        """Hand out the three messages sent before (the consumer is ready)."""
        h.ready(c)
        got = collect(c, 3, h.timeout)
        assert _values(got) == [b"m0", b"m1", b"m2"]
        return got

    @contextlib.contextmanager
    def _ack_behind_a_held_send(
        self, h: Harness
    ) -> Iterator[tuple[HeldProducer, Consumer]]:
        """m0 … m2 are sent; a consumer takes them, a send is held, then m0 is acked.

        Closes the consumer, then the held producer.
        """
        self._need(h, "ack_barrier")
        _fill(h, 3)
        with HeldProducer(ack_barrier()) as held, h.new_consumer() as c:
            got = self._three_taken(h, c)
            held.send(Message(value=b"out"))
            c.ack(got[0])
            yield held, c

    def test_an_ack_waits_for_the_confirmation_of_an_earlier_send(self, h: Harness) -> None:
        """An ack made after a send is not committed before that send is confirmed.

        Once it is, the ack is committed (at the latest at close): the next consumer
        starts after it.
        """
        with self._ack_behind_a_held_send(h) as (held, c):
            if h.features.backlog:  # not committed while the send is held
                assert _stays(lambda: c.backlog() == 3, 0.5)
            held.confirm()
        with h.new_consumer() as c:
            assert _values(collect(c, 2, h.timeout)) == [b"m1", b"m2"]
            if h.features.backlog:
                assert c.backlog() == 2

    def test_an_ack_behind_an_unconfirmed_send_is_not_committed_at_close(
        self, h: Harness
    ) -> None:
        """Closing the consumer while the earlier send is still held commits nothing."""
        self._need(h, "redelivers_unacked")
        with self._ack_behind_a_held_send(h):
            pass
        with h.new_consumer() as c:
            assert _values(collect(c, 3, h.timeout)) == [b"m0", b"m1", b"m2"]

    def test_an_ack_after_the_confirmation_is_committed_at_once(self, h: Harness) -> None:
        """A send confirmed before the ack holds nothing back."""
        self._need(h, "ack_barrier")
        self._need(h, "backlog")
        _fill(h, 3)
        with HeldProducer(ack_barrier()) as held, h.new_consumer() as c:
            got = self._three_taken(h, c)
            held.send(Message(value=b"out"))
            held.confirm()
            c.ack(got[0])
            assert c.backlog() == 2

    # -- fatal errors ---------------------------------------------------------------------

    def test_a_fatal_consumer_error_closes_it_cleanly_and_is_raised_at_the_next_call(
        self, h: Harness
    ) -> None:
        """The error ends iteration (a ClientError); what was acknowledged is committed.

        The consumer is closed then: ack raises ClientClosedError, close() returns.
        """
        self._need(h, "fatal_errors")
        _fill(h, 5)
        c = h.new_breakable_consumer()
        try:
            it, got = _take(c, 3, h.timeout)
            c.ack(got[0])
            c.ack(got[1])
            h.provoke_fatal(c)
            err = _raised(lambda: list(it), h.timeout * 2)
            assert isinstance(err, ClientError), err
            with pytest.raises(ClientClosedError):
                c.ack(got[2])
            c.close()  # (raised already: not again)
            assert list(c) == []
        finally:
            with contextlib.suppress(StreamProcessorError):
                c.close()
        if h.features.persistent_acks and h.features.redelivers_unacked:
            with h.new_consumer() as c:
                assert _values(collect(c, 3, h.timeout)) == [b"m2", b"m3", b"m4"]

    def test_a_fatal_consumer_error_with_manual_handling_arrives_on_errors(
        self, h: Harness
    ) -> None:
        """With manual error handling nothing is raised, and the consumer stays open."""
        from streamprocessor import options

        self._need(h, "fatal_errors")
        _fill(h, 4)
        with h.new_breakable_consumer(options.manual_error_handling()) as c:
            it, got = _take(c, 3, h.timeout)
            c.ack(got[0])
            c.ack(got[1])
            h.provoke_fatal(c)
            ended = threading.Thread(target=lambda: list(it), daemon=True)
            ended.start()  # (meets the error: it goes to errors())
            err = _next_error(c, h.timeout * 2)
            assert isinstance(err, ClientError), err
            # open: no ClientClosedError (the ack may come after a rebalance the failure
            # caused, then it is not committed: the next consumer may get m2 again)
            c.ack(got[2])
        if h.features.persistent_acks and h.features.redelivers_unacked:
            with h.new_consumer() as c:
                assert _values(collect(c, 1, h.timeout)) in ([b"m2"], [b"m3"])

    def test_a_fatal_producer_error_closes_it_and_is_raised_at_the_next_call(
        self, h: Harness
    ) -> None:
        """What was sent before the error arrives; the error is raised once, a ClientError.

        The producer is closed then: send raises ClientClosedError, close() returns.
        """
        self._need(h, "fatal_errors")
        p = h.new_breakable_producer()
        try:
            _send_all(p, [Message(value=b"before")])
            h.provoke_fatal(p)

            def use() -> None:
                p.send(Message(value=b"after"))
                p.flush(h.timeout)

            err = _raised(use, h.timeout * 2)
            assert isinstance(err, ClientError), err
            with pytest.raises(ClientClosedError):
                p.send(Message(value=b"later"))
            p.close()  # (raised already: not again)
        finally:
            with contextlib.suppress(StreamProcessorError):
                p.close()
        h.settle()
        with h.new_consumer() as c:
            assert _values(collect(c, 1, h.timeout))[:1] == [b"before"]

    def test_a_fatal_producer_error_with_manual_handling_arrives_on_errors(
        self, h: Harness
    ) -> None:
        """With manual error handling nothing is raised, and the producer stays open."""
        from streamprocessor import options

        self._need(h, "fatal_errors")
        with h.new_breakable_producer(options.manual_error_handling()) as p:
            h.provoke_fatal(p)
            p.send(Message(value=b"after"))
            with contextlib.suppress(FlushTimeoutError):  # (what failed is not delivered)
                p.flush(h.timeout)
            err = _next_error(p, h.timeout * 2)
            assert isinstance(err, ClientError), err
            p.send(Message(value=b"later"))  # open: no ClientClosedError

    # -- the signal stop ------------------------------------------------------------------

    def test_sigterm_ends_iteration_after_the_message_in_hand(self, h: Harness) -> None:
        """SIGTERM while a message is in hand: nothing after it is handed out.

        That message can still be acknowledged and is committed at close; a new consumer
        gets the rest.
        """
        self._need(h, "signal_stop")
        _fill(h, 6, key=b"k")
        seen: list[bytes | None] = []
        with _signals() as coord:
            c = h.new_consumer()  # (in the main thread: it registers for signals)
            ends = threading.Timer(h.timeout * 2, c.close)  # bounds the loop below
            ends.start()
            try:
                with c:
                    for m in c:
                        seen.append(m.value)
                        if m.value == b"m2":
                            _signal_now(coord, signal.SIGTERM, h.timeout)
                        c.ack(m)
            finally:
                ends.cancel()
            assert coord.interrupted is signal.SIGTERM
        assert seen == [b"m0", b"m1", b"m2"]
        if h.features.persistent_acks and h.features.redelivers_unacked:
            with h.new_consumer() as c:
                assert _values(collect(c, 3, h.timeout)) == [b"m3", b"m4", b"m5"]

    # -- lifecycle ----------------------------------------------------------------------

    def test_close_is_idempotent_and_flushes(self, h: Harness) -> None:
        """close() delivers everything sent, and a second close does nothing."""
        p = h.new_producer()
        for i in range(50):
            p.send(Message(value=b"c%d" % i))
        p.close()
        p.close()
        h.settle()
        with h.new_consumer() as c:
            got = collect(c, 50, h.timeout)
        assert _values(got) == [b"c%d" % i for i in range(50)]

    def test_closed_clients_refuse_work(self, h: Harness) -> None:
        """ack, nack, send and flush on a closed client raise ClientClosedError."""
        with h.new_producer() as p:
            _send_all(p, [Message(value=b"one")])
        h.settle()
        c = h.new_consumer()
        got = collect(c, 1, h.timeout)
        assert got
        c.close()
        c.close()
        with pytest.raises(ClientClosedError):
            c.ack(got[0])
        with pytest.raises(ClientClosedError):
            c.nack(got[0])
        p = h.new_producer()
        p.close()
        with pytest.raises(ClientClosedError):
            p.send(Message(value=b"late"))
        with pytest.raises(ClientClosedError):
            p.flush(1)

    def test_iterating_a_closed_consumer_ends_at_once(self, h: Harness) -> None:
        """A closed consumer yields nothing and does not block."""
        with h.new_producer() as p:
            _send_all(p, [Message(value=b"one")])
        h.settle()
        c = h.new_consumer()
        c.close()
        start = time.monotonic()
        assert list(c) == []
        assert time.monotonic() - start < 1.0

    def test_close_from_another_thread_ends_iteration(self, h: Harness) -> None:
        """Closing a consumer while another thread iterates it ends that iteration."""
        if h.features.finite:
            pytest.skip("iteration of this client ends by itself")
        c = h.new_consumer()
        done = threading.Event()

        def run() -> None:
            for _ in c:
                pass
            done.set()

        threading.Thread(target=run, daemon=True).start()
        time.sleep(0.3)
        c.close()
        assert done.wait(h.timeout)

    def test_send_from_many_threads(self, h: Harness) -> None:
        """send() is safe from several threads: every message arrives once."""
        p = h.new_producer()

        def run(t: int) -> None:
            for i in range(100):
                p.send(Message(value=b"t%d-%d" % (t, i), key=b"t%d" % t))

        threads = [threading.Thread(target=run, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(h.timeout)
        p.close()
        h.settle()
        with h.new_consumer() as c:
            got = collect(c, 400, h.timeout * 2)
        values = sorted(m.value or b"" for m in got)
        assert values == sorted(b"t%d-%d" % (t, i) for t in range(4) for i in range(100))

    # -- errors and bad input -----------------------------------------------------------

    def test_errors_channel_with_default_handling_says_how_to_enable_it(self, h: Harness) -> None:
        """errors() under default handling yields one explanatory error and ends."""
        with h.new_producer() as p:
            errs = list(p.errors())
        assert len(errs) == 1
        assert isinstance(errs[0], ManualErrorsDisabledError)

    def test_errors_channel_with_manual_handling_ends_on_close(self, h: Harness) -> None:
        """With manual error handling, errors() is an iterable that ends on close."""
        from streamprocessor import options

        p = h.new_producer(options.manual_error_handling())
        result: list[list[BaseException]] = []
        t = threading.Thread(target=lambda: result.append(list(p.errors())), daemon=True)
        t.start()
        p.close()
        t.join(h.timeout)
        assert result == [[]]

    def test_sending_a_non_message_is_a_clear_error(self, h: Harness) -> None:
        """send() of something that is not a Message raises InvalidMessageError."""
        with h.new_producer() as p, pytest.raises(InvalidMessageError):
            p.send(b"raw bytes")  # type: ignore[arg-type]

    def test_sending_a_str_value_is_a_clear_error(self, h: Harness) -> None:
        """A str value is refused with InvalidMessageError."""
        with h.new_producer() as p, pytest.raises(InvalidMessageError):
            p.send(Message(value="text"))  # type: ignore[arg-type]

    def test_a_field_no_producer_can_send_is_refused_and_nothing_is_sent(
        self, h: Harness
    ) -> None:
        """InvalidMessageError naming the field, before anything is sent; the producer goes on."""
        with h.new_producer() as p:
            for field_name, fields in UNSENDABLE:
                whose = re.escape(f"a Message whose {field_name}")
                with pytest.raises(InvalidMessageError, match=whose):
                    p.send(Message(**{"value": b"bad", **fields}))
            p.send(Message(value=b"good"))
        h.settle()
        with h.new_consumer() as c:
            h.ready(c)
            got = collect(c, 2, h.timeout if h.features.finite else 2.0)
        assert [m.value for m in got] == [b"good"]
