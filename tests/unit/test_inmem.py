import threading
import time

import pytest

from streamprocessor import ConfigError, Message, options
from streamprocessor.clients import inmem
from streamprocessor.testing.conformance import collect
from streamprocessor.util.barrier import BARRIER, DeliveryTracker


def _fill(store, n, prefix=b"m"):
    for i in range(n):
        store.add(Message(value=prefix + b"%d" % i))


def test_consume_once_reads_the_store_as_a_fixture_and_leaves_it(inmem_store):
    _fill(inmem_store, 3)
    with inmem.new_consumer(options.inmem_store(inmem_store)) as c:
        got = [m.value for m in c]
        assert got == [b"m0", b"m1", b"m2"]
    assert len(inmem_store) == 3


def test_consume_once_does_not_see_messages_added_later(inmem_store):
    _fill(inmem_store, 1)
    with inmem.new_consumer(options.inmem_store(inmem_store)) as c:
        it = iter(c)
        assert next(it).value == b"m0"
        inmem_store.add(Message(value=b"late"))
        assert list(it) == []


def test_listen_mode_waits_for_new_messages(inmem_store):
    with inmem.new_consumer(options.inmem_store(inmem_store), options.inmem_listen()) as c:
        threading.Timer(0.2, lambda: _fill(inmem_store, 2)).start()
        got = collect(c, 2, 5)
    assert [m.value for m in got] == [b"m0", b"m1"]


def test_listen_mode_delivers_nothing_twice_or_out_of_order(inmem_store):
    """The original delivered A, C, C, B for A, B, C (SPEC §14.8)."""
    _fill(inmem_store, 1000)
    with inmem.new_consumer(options.inmem_store(inmem_store), options.inmem_listen()) as c:
        got = collect(c, 1001, 2, ack=True)
    assert [m.value for m in got] == [b"m%d" % i for i in range(1000)]


def test_listen_mode_removes_a_message_on_ack_not_on_hand_out(inmem_store):
    _fill(inmem_store, 2)
    with inmem.new_consumer(options.inmem_store(inmem_store), options.inmem_listen()) as c:
        got = collect(c, 2, 5)
        assert len(inmem_store) == 2
        c.ack(got[0])
        assert [m.value for m in inmem_store.messages()] == [b"m1"]


def test_two_listening_consumers_share_the_work_without_duplicates(inmem_store):
    _fill(inmem_store, 100)
    a = inmem.new_consumer(options.inmem_store(inmem_store), options.inmem_listen())
    b = inmem.new_consumer(options.inmem_store(inmem_store), options.inmem_listen())
    got_a = collect(a, 100, 0.5, ack=True)
    got_b = collect(b, 100, 0.5, ack=True)
    a.close()
    b.close()
    values = [m.value for m in got_a + got_b]
    assert sorted(values) == sorted(b"m%d" % i for i in range(100))


def test_mutating_a_consumed_message_never_changes_the_store(inmem_store):
    inmem_store.add(Message(value=b"orig", tags={"a": b"1"}))
    with inmem.new_consumer(options.inmem_store(inmem_store), options.inmem_listen()) as c:
        m = collect(c, 1, 5)[0]
        m.value = b"mutated"
        m.tags["a"] = b"2"
        c.nack(m)
        again = collect(c, 1, 5)[0]
    assert again.value == b"orig"
    assert again.tags == {"a": b"1"}


def test_producer_appends_in_order_and_round_trips(inmem_store):
    with inmem.new_producer(options.inmem_store(inmem_store)) as p:
        for i in range(3):
            p.send(Message(value=b"%d" % i))
    with inmem.new_consumer(options.inmem_store(inmem_store)) as c:
        assert [m.value for m in c] == [b"0", b"1", b"2"]


def test_a_non_store_is_a_clear_error():
    with pytest.raises(ConfigError, match="inmem_store"):
        inmem.new_consumer(options.inmem_store(object()))  # type: ignore[arg-type]


class _SlowProducer:
    """A stand-in for an asynchronous producer, registered with the barrier."""

    def __init__(self):
        self.tracker = DeliveryTracker("slow", self.flush)
        self.flushed = 0
        BARRIER.register(self.tracker)

    def send(self):
        return self.tracker.next_seq()

    def deliver(self, seq):
        self.tracker.confirm(seq)

    def flush(self, timeout):
        self.flushed += 1
        self.tracker.confirm_upto(self.tracker.sent)

    def close(self):
        BARRIER.unregister(self.tracker)


def test_ack_waits_for_earlier_sends_to_be_delivered(inmem_store):
    _fill(inmem_store, 2)
    slow = _SlowProducer()
    try:
        c = inmem.new_consumer(options.inmem_store(inmem_store), options.inmem_listen())
        got = collect(c, 2, 5)
        seq = slow.send()
        c.ack(got[0])
        assert len(inmem_store) == 2, "ack committed before the send was delivered"
        slow.deliver(seq)
        c.ack(got[1])  # a later ack drains the ready ones
        assert len(inmem_store) == 0
        c.close()
    finally:
        slow.close()


def test_close_flushes_the_producers_acks_wait_on(inmem_store):
    _fill(inmem_store, 1)
    slow = _SlowProducer()
    try:
        c = inmem.new_consumer(options.inmem_store(inmem_store), options.inmem_listen())
        m = collect(c, 1, 5)[0]
        slow.send()
        c.ack(m)
        assert len(inmem_store) == 1
        c.close()
        assert slow.flushed == 1
        assert len(inmem_store) == 0
    finally:
        slow.close()


def test_consume_once_backlog_counts_unacked(inmem_store):
    _fill(inmem_store, 2)
    with inmem.new_consumer(options.inmem_store(inmem_store)) as c:
        assert c.backlog() == 2
        for m in c:
            c.ack(m)
        assert c.backlog() == 0


def test_listening_iteration_ends_within_a_bounded_time_after_close(inmem_store):
    c = inmem.new_consumer(options.inmem_store(inmem_store), options.inmem_listen())
    ended = threading.Event()
    threading.Thread(target=lambda: (list(c), ended.set()), daemon=True).start()
    time.sleep(0.1)
    c.close()
    assert ended.wait(2)


def test_an_interrupt_in_the_middle_of_a_fetch_stops_after_the_message_in_hand(inmem_store):
    """What was taken from the store but not handed out is not handed out after a
    SIGTERM-style interrupt; it stays unacknowledged for the next consumer."""
    _fill(inmem_store, 5)
    with inmem.new_consumer(options.inmem_store(inmem_store), options.inmem_listen()) as c:
        it = iter(c)
        first = next(it)
        second = next(it)  # the rest of the store is taken: in the middle of a list now
        c.ack(first)
        c.interrupt()  # what the shutdown coordinator calls
        assert list(it) == []
        c.ack(second)
    with inmem.new_consumer(options.inmem_store(inmem_store), options.inmem_listen()) as c:
        got = collect(c, 3, 5)
    assert [m.value for m in got] == [b"m2", b"m3", b"m4"]


def test_two_iterators_of_one_consumer_share_its_messages(inmem_store):
    """A second iterator takes over what the first took and did not hand out."""
    _fill(inmem_store, 6)
    with inmem.new_consumer(options.inmem_store(inmem_store)) as c:
        a = iter(c)
        got = [next(a).value, next(a).value]
        b = iter(c)
        got.append(next(b).value)
        got.append(next(a).value)  # the first iterator goes on from the shared buffer
        got.extend(m.value for m in b)  # (takes over what ``a`` took)
        assert list(a) == []
    assert got == [b"m%d" % i for i in range(6)]


def test_a_nack_of_the_last_message_of_a_finite_stream_hands_it_out_again(inmem_store):
    _fill(inmem_store, 3)
    seen = []
    with inmem.new_consumer(options.inmem_store(inmem_store)) as c:
        for m in c:
            seen.append(m.value)
            if m.value == b"m2" and seen.count(b"m2") == 1:
                c.nack(m)
    assert seen == [b"m0", b"m1", b"m2", b"m2"]
