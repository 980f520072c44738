"""The conformance suite: the Consumer/Producer contract, written once, run on every client.

A client plugs in by subclassing :class:`ConformanceSuite` with a ``harness`` fixture that
returns a :class:`Harness` (how to make a consumer and a producer that meet on one fresh
topic or store) holding a :class:`Features` record of what the client promises. Tests of
a feature the client does not claim are skipped with the reason, visibly; nothing is
forked per client (a client type's spec names its harnesses: tests/integration/
test_conformance.py runs every registered type). Every blocking read is bounded by
``Harness.timeout``; the ack-barrier tests use :class:`HeldProducer`, whose sends are
confirmed only when the test says so. The pieces are in ``testing._kit``.
"""

from __future__ import annotations

import contextlib
import re
import signal
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from streamprocessor.stream import (
    ClientClosedError,
    ClientError,
    Consumer,
    FlushTimeoutError,
    InvalidMessageError,
    ManualErrorsDisabledError,
    Message,
    StreamProcessorError,
)
from streamprocessor.testing import _kit as kit
from streamprocessor.testing._kit import (
    UNSENDABLE,
    Features,
    Harness,
    HeldProducer,
    ack_barrier,
    collect,
    coordinator,
)

__all__ = [
    "UNSENDABLE",
    "ConformanceSuite",
    "Features",
    "Harness",
    "HeldProducer",
    "ack_barrier",
    "collect",
    "coordinator",
]


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
            kit.send_all(p, sent)
        h.settle()
        with h.new_consumer() as c:
            got = collect(c, len(sent), h.timeout)
        assert kit.values(got) == kit.values(sent)
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
            kit.send_all(p, sent)
        h.settle()
        with h.new_consumer() as c:
            got = collect(c, len(sent), h.timeout)
        assert kit.values(got) == kit.values(sent)

    def test_tombstone_round_trips(self, h: Harness) -> None:
        """A message with value None arrives with value None."""
        self._need(h, "tombstones")
        with h.new_producer() as p:
            kit.send_all(p, [Message(value=None, key=b"gone"), Message(value=b"after")])
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
            kit.send_all(p, sent)
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
            kit.send_all(p, [Message(value=b"m%d" % i) for i in range(10)])
        h.settle()
        with h.new_consumer() as c:
            got = collect(c, 10, h.timeout, ack=True)
        assert len(got) == 10
        with h.new_producer() as p:
            kit.send_all(p, [Message(value=b"later")])
        h.settle()
        with h.new_consumer() as c:
            again = collect(c, 1, h.timeout)
        assert kit.values(again) == [b"later"]

    def test_unacked_messages_are_delivered_again(self, h: Harness) -> None:
        """A new consumer gets what the previous one took but did not acknowledge."""
        self._need(h, "redelivers_unacked")
        with h.new_producer() as p:
            kit.send_all(p, [Message(value=b"m%d" % i) for i in range(6)])
        h.settle()
        with h.new_consumer() as c:
            got = collect(c, 6, h.timeout)
            assert len(got) == 6
            for m in got[:3]:
                c.ack(m)
        with h.new_consumer() as c:
            again = collect(c, 3, h.timeout)
        assert kit.values(again) == [b"m3", b"m4", b"m5"]

    def test_out_of_order_ack_never_skips_an_unacked_message(self, h: Harness) -> None:
        """Acknowledging a later message does not commit past an earlier unacked one."""
        self._need(h, "redelivers_unacked")
        with h.new_producer() as p:
            kit.send_all(p, [Message(value=b"first"), Message(value=b"second")])
        h.settle()
        with h.new_consumer() as c:
            got = collect(c, 2, h.timeout)
            assert kit.values(got) == [b"first", b"second"]
            c.ack(got[1])
        with h.new_consumer() as c:
            again = collect(c, 1, h.timeout)
        assert kit.values(again) == [b"first"]

    def test_nack_delivers_the_message_again(self, h: Harness) -> None:
        """After nack the same message comes again, before the ones after it."""
        with h.new_producer() as p:
            kit.send_all(p, [Message(value=b"a"), Message(value=b"b"), Message(value=b"c")])
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
            kit.send_all(p, [Message(value=b"m%d" % i, key=b"k") for i in range(n)])
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
            kit.within(h.timeout * 2, run, c)
        assert seen == [b"m0", b"m1", b"m2", b"m2", b"m3", b"m4", b"m5"]

    def test_nack_brings_back_what_the_client_declares(self, h: Harness) -> None:
        """Nack of the first of three messages handed out, per ``features.nack``.

        ``rewind``: it and the two after it come again, in order, then the rest;
        ``requeue``: it alone comes again, next, then the rest. Nothing else comes twice,
        nothing is lost.
        """
        n = 6
        kit.fill(h, n, key=b"k")
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
            kit.within(h.timeout * 2, run, c)
            assert seen == want
            if not h.features.finite:  # nothing more is handed out
                assert kit.values(collect(c, 1, 0.5)) == []
        if h.features.persistent_acks:  # and nothing stays unacknowledged
            with h.new_producer() as p:
                kit.send_all(p, [Message(value=b"after", key=b"k")])
            h.settle()
            with h.new_consumer() as c:
                assert kit.values(collect(c, 1, h.timeout)) == [b"after"]

    def test_iterating_again_after_a_break_skips_nothing(self, h: Harness) -> None:
        """Leaving the loop and iterating again goes on with the next message.

        Also one ``next(iter(c))`` at a time: nothing taken from the source is skipped.
        """
        n = 9
        with h.new_producer() as p:
            kit.send_all(p, [Message(value=b"m%d" % i, key=b"k") for i in range(n)])
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
            kit.within(h.timeout * 2, run, c)
        assert seen == [b"m%d" % i for i in range(n)]

    def test_backlog_counts_down_to_zero(self, h: Harness) -> None:
        """backlog() is the number of messages not yet acknowledged."""
        self._need(h, "backlog")
        with h.new_producer() as p:
            kit.send_all(p, [Message(value=b"x%d" % i) for i in range(3)])
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
        assert kit.values(got) == [b"m0", b"m1", b"m2"]
        return got

    @contextlib.contextmanager
    def _ack_behind_a_held_send(self, h: Harness) -> Iterator[tuple[HeldProducer, Consumer]]:
        """m0 … m2 are sent; a consumer takes them, a send is held, then m0 is acked.

        Closes the consumer, then the held producer.
        """
        self._need(h, "ack_barrier")
        kit.fill(h, 3)
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
                assert kit.stays(lambda: c.backlog() == 3, 0.5)
            held.confirm()
        with h.new_consumer() as c:
            assert kit.values(collect(c, 2, h.timeout)) == [b"m1", b"m2"]
            if h.features.backlog:
                assert c.backlog() == 2

    def test_an_ack_behind_an_unconfirmed_send_is_not_committed_at_close(self, h: Harness) -> None:
        """Closing the consumer while the earlier send is still held commits nothing."""
        self._need(h, "redelivers_unacked")
        with self._ack_behind_a_held_send(h):
            pass
        with h.new_consumer() as c:
            assert kit.values(collect(c, 3, h.timeout)) == [b"m0", b"m1", b"m2"]

    def test_an_ack_after_the_confirmation_is_committed_at_once(self, h: Harness) -> None:
        """A send confirmed before the ack holds nothing back."""
        self._need(h, "ack_barrier")
        self._need(h, "backlog")
        kit.fill(h, 3)
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
        kit.fill(h, 5)
        c = h.new_breakable_consumer()
        try:
            it, got = kit.take(c, 3, h.timeout)
            c.ack(got[0])
            c.ack(got[1])
            h.provoke_fatal(c)
            err = kit.raised(lambda: list(it), h.timeout * 2)
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
                assert kit.values(collect(c, 3, h.timeout)) == [b"m2", b"m3", b"m4"]

    def test_a_fatal_consumer_error_with_manual_handling_arrives_on_errors(
        self, h: Harness
    ) -> None:
        """With manual error handling nothing is raised, and the consumer stays open."""
        from streamprocessor import options

        self._need(h, "fatal_errors")
        kit.fill(h, 4)
        with h.new_breakable_consumer(options.manual_error_handling()) as c:
            it, got = kit.take(c, 3, h.timeout)
            c.ack(got[0])
            c.ack(got[1])
            h.provoke_fatal(c)
            ended = threading.Thread(target=lambda: list(it), daemon=True)
            ended.start()  # (meets the error: it goes to errors())
            err = kit.next_error(c, h.timeout * 2)
            assert isinstance(err, ClientError), err
            # open: no ClientClosedError (the ack may come after a rebalance the failure
            # caused, then it is not committed: the next consumer may get m2 again)
            c.ack(got[2])
        if h.features.persistent_acks and h.features.redelivers_unacked:
            with h.new_consumer() as c:
                assert kit.values(collect(c, 1, h.timeout)) in ([b"m2"], [b"m3"])

    def test_a_fatal_producer_error_closes_it_and_is_raised_at_the_next_call(
        self, h: Harness
    ) -> None:
        """What was sent before the error arrives; the error is raised once, a ClientError.

        The producer is closed then: send raises ClientClosedError, close() returns.
        """
        self._need(h, "fatal_errors")
        p = h.new_breakable_producer()
        try:
            kit.send_all(p, [Message(value=b"before")])
            h.provoke_fatal(p)

            def use() -> None:
                p.send(Message(value=b"after"))
                p.flush(h.timeout)

            err = kit.raised(use, h.timeout * 2)
            assert isinstance(err, ClientError), err
            with pytest.raises(ClientClosedError):
                p.send(Message(value=b"later"))
            p.close()  # (raised already: not again)
        finally:
            with contextlib.suppress(StreamProcessorError):
                p.close()
        h.settle()
        with h.new_consumer() as c:
            assert kit.values(collect(c, 1, h.timeout))[:1] == [b"before"]

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
            err = kit.next_error(p, h.timeout * 2)
            assert isinstance(err, ClientError), err
            p.send(Message(value=b"later"))  # open: no ClientClosedError

    # -- the signal stop ------------------------------------------------------------------

    def test_sigterm_ends_iteration_after_the_message_in_hand(self, h: Harness) -> None:
        """SIGTERM while a message is in hand: nothing after it is handed out.

        That message can still be acknowledged and is committed at close; a new consumer
        gets the rest.
        """
        self._need(h, "signal_stop")
        kit.fill(h, 6, key=b"k")
        seen: list[bytes | None] = []
        with kit.signals() as coord:
            c = h.new_consumer()  # (in the main thread: it registers for signals)
            ends = threading.Timer(h.timeout * 2, c.close)  # bounds the loop below
            ends.start()
            try:
                with c:
                    for m in c:
                        seen.append(m.value)
                        if m.value == b"m2":
                            kit.signal_now(coord, signal.SIGTERM, h.timeout)
                        c.ack(m)
            finally:
                ends.cancel()
            assert coord.interrupted is signal.SIGTERM
        assert seen == [b"m0", b"m1", b"m2"]
        if h.features.persistent_acks and h.features.redelivers_unacked:
            with h.new_consumer() as c:
                assert kit.values(collect(c, 3, h.timeout)) == [b"m3", b"m4", b"m5"]

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
        assert kit.values(got) == [b"c%d" % i for i in range(50)]

    def test_closed_clients_refuse_work(self, h: Harness) -> None:
        """ack, nack, send and flush on a closed client raise ClientClosedError."""
        with h.new_producer() as p:
            kit.send_all(p, [Message(value=b"one")])
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
            kit.send_all(p, [Message(value=b"one")])
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

    def test_a_field_no_producer_can_send_is_refused_and_nothing_is_sent(self, h: Harness) -> None:
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
