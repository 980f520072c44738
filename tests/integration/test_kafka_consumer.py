"""The Kafka consumer against a real broker: order, commits, backlog, start offsets, acks."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import Producer

from streamprocessor import options
from streamprocessor.clients import kafka
from streamprocessor.clients.kafka import testing as kt
from streamprocessor.stream.errors import ClientClosedError, ClientError
from streamprocessor.stream.message import Message

pytestmark = pytest.mark.kafka
TIMEOUT = 20.0


def new_consumer(brokers: str, topic: str, group: str | None = None, *opts: Any) -> Any:
    return kafka.new_consumer(*kt.consumer_options(brokers, topic, group), *opts)


def take(c: Any, n: int, timeout: float = TIMEOUT, ack: bool = False) -> list[Message]:
    """Iterate ``c`` in this thread until ``n`` messages; past ``timeout`` close it."""
    timer = threading.Timer(timeout, c.close)
    timer.start()
    out: list[Message] = []
    try:
        for m in c:
            out.append(m)
            if ack:
                c.ack(m)
            if len(out) == n:
                break
    finally:
        timer.cancel()
    return out


def values(n: int, prefix: str = "m") -> list[bytes]:
    return [f"{prefix}{i}".encode() for i in range(n)]


def test_5000_messages_arrive_in_order(kafka_brokers: str, kafka_topic: Callable[..., str]) -> None:
    """One partition: every message arrives once, in the order produced."""
    topic = kafka_topic()
    sent = values(5000)
    with kafka.new_producer(*kt.producer_options(kafka_brokers, topic)) as p:
        for v in sent:
            p.send(Message(value=v))
    with new_consumer(kafka_brokers, topic) as c:
        got = take(c, len(sent), ack=True)
    assert [m.value for m in got] == sent
    assert [m.offset for m in got] == list(range(5000))
    assert {m.consumer_topic for m in got} == {topic}


def test_ack_then_close_commits_the_acknowledged_position(
    kafka_brokers: str, kafka_topic: Callable[..., str]
) -> None:
    """Acknowledging 2 of 3 messages and closing commits offset 2 for the group."""
    topic = kafka_topic()
    kt.produce_messages(kafka_brokers, topic, "a", "b", "c")
    c = new_consumer(kafka_brokers, topic)
    got = take(c, 3)
    c.ack(got[0])
    c.ack(got[1])
    c.close()
    assert kt.committed_offsets(kafka_brokers, topic, topic) == {0: 2}


def test_acks_are_committed_every_commit_interval_while_running(
    kafka_brokers: str, kafka_topic: Callable[..., str]
) -> None:
    """Without closing, the acknowledged position reaches the broker within the interval."""
    topic = kafka_topic()
    kt.produce_messages(kafka_brokers, topic, "a", "b")
    with new_consumer(kafka_brokers, topic, None, options.kafka_commit_interval("200ms")) as c:
        got = take(c, 2)
        c.ack(got[0])
        deadline = time.monotonic() + 5
        while kt.committed_offsets(kafka_brokers, topic, topic)[0] != 1:
            assert time.monotonic() < deadline, "ack not committed within 5s"
            time.sleep(0.1)


def test_backlog_counts_2_1_0(kafka_brokers: str, kafka_topic: Callable[..., str]) -> None:
    """The original's backlog test: 2 messages, ack one by one."""
    topic = kafka_topic()
    kt.produce_messages(kafka_brokers, topic, "a", "b")
    with new_consumer(kafka_brokers, topic) as c:
        assert c.backlog() == 0  # nothing assigned yet
        kt.wait_for_assignment(c, TIMEOUT)
        assert c.backlog() == 2
        it = iter(c)
        c.ack(next(it))
        assert c.backlog() == 1
        c.ack(next(it))
        assert c.backlog() == 0


def test_backlog_counts_the_committed_offset_of_an_earlier_member(
    kafka_brokers: str, kafka_topic: Callable[..., str]
) -> None:
    """A new member that acknowledged nothing counts from the group's committed offset."""
    topic = kafka_topic()
    kt.produce_messages(kafka_brokers, topic, "a", "b", "c")
    with new_consumer(kafka_brokers, topic) as c:
        for m in take(c, 2):
            c.ack(m)
    with new_consumer(kafka_brokers, topic) as c:
        kt.wait_for_assignment(c, TIMEOUT)
        assert c.backlog() == 1


def test_offset_head_starts_partitions_without_commit_at_that_offset(
    kafka_brokers: str, kafka_topic: Callable[..., str]
) -> None:
    """kafka_offset_head(n) starts a new group at absolute offset n."""
    topic = kafka_topic()
    kt.produce_messages(kafka_brokers, topic, *[f"m{i}" for i in range(10)])
    with new_consumer(kafka_brokers, topic, None, options.kafka_offset_head(3)) as c:
        got = take(c, 7, ack=True)
    assert [m.offset for m in got] == list(range(3, 10))


def test_offset_tail_starts_partitions_without_commit_n_before_the_end(
    kafka_brokers: str, kafka_topic: Callable[..., str]
) -> None:
    """kafka_offset_tail(n) starts a new group n messages before the end."""
    topic = kafka_topic()
    kt.produce_messages(kafka_brokers, topic, *[f"m{i}" for i in range(10)])
    with new_consumer(kafka_brokers, topic, None, options.kafka_offset_tail(2)) as c:
        got = take(c, 2, ack=True)
    assert [m.value for m in got] == [b"m8", b"m9"]


def test_offset_default_leaves_committed_partitions_alone(
    kafka_brokers: str, kafka_topic: Callable[..., str]
) -> None:
    """A group with a committed offset continues there, whatever the default offset."""
    topic = kafka_topic()
    kt.produce_messages(kafka_brokers, topic, *[f"m{i}" for i in range(5)])
    with new_consumer(kafka_brokers, topic) as c:
        for m in take(c, 2):
            c.ack(m)
    with new_consumer(kafka_brokers, topic, None, options.kafka_offset_tail(1)) as c:
        got = take(c, 3)
    assert [m.value for m in got] == [b"m2", b"m3", b"m4"]


def test_offset_initial_end_skips_what_was_there(
    kafka_brokers: str, kafka_topic: Callable[..., str]
) -> None:
    """offset_initial=end: a new group sees only messages produced after it joined."""
    topic = kafka_topic()
    kt.produce_messages(kafka_brokers, topic, "old")
    with new_consumer(kafka_brokers, topic, None, options.kafka_offset_initial("end")) as c:
        for i in range(40):  # until the consumer's "end" is resolved and it sees a new one
            kt.produce_messages(kafka_brokers, topic, f"new{i}")
            until = time.monotonic() + 0.5
            while not c._buffer and time.monotonic() < until:
                c._fill()
            if c._buffer:
                break
        got = take(c, 1)
    assert got
    assert got[0].value is not None and got[0].value.startswith(b"new")


def test_acks_over_offset_gaps_commit_past_the_gap(
    kafka_brokers: str, kafka_topic: Callable[..., str]
) -> None:
    """Transaction markers leave offset gaps; acking every message still commits past them."""
    topic = kafka_topic()
    p = Producer({"bootstrap.servers": kafka_brokers, "transactional.id": kt.random_name("tx")})
    p.init_transactions(TIMEOUT)
    for batch in (("a", "b"), ("c",)):
        p.begin_transaction()
        for v in batch:
            p.produce(topic, v.encode())
        p.commit_transaction(TIMEOUT)
    p.flush(TIMEOUT)
    with new_consumer(kafka_brokers, topic) as c:
        got = take(c, 3, ack=True)
    assert [m.offset for m in got] == [0, 1, 3]  # 2 and 4 are commit markers
    assert kt.committed_offsets(kafka_brokers, topic, topic)[0] >= 4
    kt.produce_messages(kafka_brokers, topic, "later")
    with new_consumer(kafka_brokers, topic) as c:
        again = take(c, 1)
    assert [m.value for m in again] == [b"later"]


def test_nack_delivers_the_message_and_the_later_ones_of_its_partition_again(
    kafka_brokers: str, kafka_topic: Callable[..., str]
) -> None:
    """nack seeks back: the nacked message and every later one of its partition come again."""
    topic = kafka_topic()
    kt.produce_messages(kafka_brokers, topic, "a", "b", "c")
    with new_consumer(kafka_brokers, topic) as c:
        first = take(c, 2)
        assert [m.value for m in first] == [b"a", b"b"]
        c.nack(first[0])
        again = take(c, 3)
    assert [m.value for m in again] == [b"a", b"b", b"c"]
    assert [m.offset for m in again] == [0, 1, 2]


def test_nack_keeps_earlier_acks_and_commits_over_the_redelivery(
    kafka_brokers: str, kafka_topic: Callable[..., str]
) -> None:
    """Acked before the nack stays acked; after redelivery the position moves on."""
    topic = kafka_topic()
    kt.produce_messages(kafka_brokers, topic, "a", "b", "c")
    with new_consumer(kafka_brokers, topic) as c:
        got = take(c, 3)
        c.ack(got[0])
        c.nack(got[1])
        again = take(c, 2)
        assert [m.value for m in again] == [b"b", b"c"]
        c.ack(again[0])
    assert kt.committed_offsets(kafka_brokers, topic, topic) == {0: 2}


def test_ack_on_a_closed_consumer_is_an_error(
    kafka_brokers: str, kafka_topic: Callable[..., str]
) -> None:
    """ack after close raises ClientClosedError; nothing more is committed."""
    topic = kafka_topic()
    kt.produce_messages(kafka_brokers, topic, "a")
    c = new_consumer(kafka_brokers, topic)
    [m] = take(c, 1)
    c.close()
    with pytest.raises(ClientClosedError):
        c.ack(m)
    assert kt.committed_offsets(kafka_brokers, topic, topic) == {0: -1001}


def test_ack_after_the_partition_was_revoked_is_a_logged_no_op(
    kafka_brokers: str, kafka_topic: Callable[..., str], caplog: pytest.LogCaptureFixture
) -> None:
    """An ack that comes after a rebalance took the partition away commits nothing."""
    topic = kafka_topic(partitions=2)
    kt.produce_messages(kafka_brokers, topic, ("k1", "x"), ("k2", "y"), ("k3", "z"))
    group = kt.random_name("group")
    c1 = new_consumer(kafka_brokers, topic, group)
    [held] = take(c1, 1)
    c2 = new_consumer(kafka_brokers, topic, group)
    stop = threading.Event()

    def serve(c: Any) -> None:  # both members must poll for the rebalance to finish
        while not stop.is_set():
            c._fill()
            c._buffer.clear()

    threads = [threading.Thread(target=serve, args=(c,), daemon=True) for c in (c1, c2)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + TIMEOUT
    while held._opaque in c1._source._parts.current():
        assert time.monotonic() < deadline, "no rebalance"
        time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join(5)
    with caplog.at_level(logging.WARNING, logger="streamprocessor"):
        c1.ack(held)
        c1.backlog()  # (acks are applied in bulk: at the latest before the backlog)
    assert "was revoked" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="streamprocessor"):
        c1.ack(held)  # the next ones of that partition: debug level, not a line each
        c1.backlog()
    assert "was revoked" not in caplog.text
    c1.close()
    c2.close()


def test_a_rebalance_duplicates_nothing_that_was_acknowledged(
    kafka_brokers: str, kafka_topic: Callable[..., str]
) -> None:
    """A second member joins mid-stream: every message is consumed exactly once."""
    topic = kafka_topic(partitions=4)
    sent = [f"m{i}" for i in range(400)]
    kt.produce_messages(kafka_brokers, topic, *[(v, v) for v in sent])
    group = kt.random_name("group")
    received: list[bytes] = []
    lock = threading.Lock()
    stop = threading.Event()

    def run(c: Any) -> None:
        for m in c:
            with lock:
                received.append(m.value)
            c.ack(m)
            if stop.is_set():
                break

    c1 = new_consumer(kafka_brokers, topic, group)
    t1 = threading.Thread(target=run, args=(c1,), daemon=True)
    t1.start()
    deadline = time.monotonic() + TIMEOUT
    while len(received) < 100:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    c2 = new_consumer(kafka_brokers, topic, group)
    t2 = threading.Thread(target=run, args=(c2,), daemon=True)
    t2.start()
    while len(set(received)) < len(sent) and time.monotonic() < deadline + TIMEOUT:
        time.sleep(0.05)
    stop.set()
    c1.close()
    c2.close()
    t1.join(5)
    t2.join(5)
    assert sorted(received) == sorted(v.encode() for v in sent)


def test_close_while_the_application_holds_a_message_is_prompt(
    kafka_brokers: str, kafka_topic: Callable[..., str]
) -> None:
    """The application stopped reading (the original's FIXME): close still finishes at once."""
    topic = kafka_topic()
    kt.produce_messages(kafka_brokers, topic, *[f"m{i}" for i in range(100)])
    c = new_consumer(kafka_brokers, topic)
    it = iter(c)
    c.ack(next(it))
    time.sleep(1.0)  # librdkafka keeps fetching; nobody reads
    start = time.monotonic()
    c.close()
    assert time.monotonic() - start < 5
    assert kt.committed_offsets(kafka_brokers, topic, topic) == {0: 1}


def test_consumer_configured_only_by_the_environment(
    kafka_brokers: str, kafka_topic: Callable[..., str], stream_env: pytest.MonkeyPatch
) -> None:
    """CONSUMER_* variables alone make a working Kafka consumer via the factory."""
    import streamprocessor

    topic = kafka_topic()
    kt.produce_messages(kafka_brokers, topic, "hello")
    stream_env.setenv("CONSUMER_CLIENT_TYPE", "kafka")
    stream_env.setenv("CONSUMER_KAFKA_BROKERS", kafka_brokers)
    stream_env.setenv("CONSUMER_KAFKA_TOPICS", topic)
    stream_env.setenv("CONSUMER_KAFKA_GROUP_ID", topic)
    stream_env.setenv("CONSUMER_KAFKA_COMMIT_INTERVAL", "100ms")
    with streamprocessor.new_consumer() as c:
        assert isinstance(c, kafka.KafkaConsumer)
        assert c.config.kafka.commit_interval.total_seconds() == 0.1
        got = take(c, 1, ack=True)
    assert [m.value for m in got] == [b"hello"]
    assert kt.committed_offsets(kafka_brokers, topic, topic) == {0: 1}


def test_a_subscribed_topic_that_does_not_exist_is_an_error(kafka_brokers: str) -> None:
    """A missing topic ends iteration with a clear error instead of waiting forever."""
    topic = kt.random_name("missing")
    c = new_consumer(kafka_brokers, topic)
    start = time.monotonic()
    with pytest.raises(ClientError, match="does not exist"):
        for _ in c:
            assert time.monotonic() - start < TIMEOUT
    assert c.closed


def test_a_lone_message_is_handed_out_promptly(
    kafka_brokers: str, kafka_topic: Callable[..., str]
) -> None:
    """At a low rate a message is not held back waiting for a batch to fill."""
    topic = kafka_topic()
    with new_consumer(kafka_brokers, topic) as c:
        kt.wait_for_assignment(c, TIMEOUT)
        got: list[float] = []

        def read() -> None:
            for _ in c:
                got.append(time.monotonic())
                break

        t = threading.Thread(target=read, daemon=True)
        t.start()
        time.sleep(1.0)  # the consumer is idle, blocked in its short waits
        sent = time.monotonic()
        kt.produce_messages(kafka_brokers, topic, "lone")
        t.join(TIMEOUT)
        assert got
        assert got[0] - sent < 1.0


def test_a_batch_ack_over_several_partitions_commits_each_prefix(
    kafka_brokers: str, kafka_topic: Callable[..., str]
) -> None:
    """The runner's batch ack: the handled prefix of a list of messages, any partitions."""
    topic = kafka_topic(partitions=3)
    kt.produce_messages(kafka_brokers, topic, *[(f"k{i}", f"v{i}") for i in range(30)])
    c = new_consumer(kafka_brokers, topic)
    got = take(c, 30)
    by_partition: dict[int, list[Message]] = {}
    for m in got:
        by_partition.setdefault(m._opaque.partition, []).append(m)
    assert len(by_partition) > 1
    # interleave the partitions and acknowledge all but the last two of that list
    mixed = [m for ms in zip(*by_partition.values(), strict=False) for m in ms]
    c.ack_batch(mixed[:-2])
    c.close()
    expected: dict[int, int] = {}
    for m in mixed[:-2]:
        p = m._opaque.partition
        expected[p] = max(expected.get(p, 0), m.offset + 1)
    committed = kt.committed_offsets(kafka_brokers, topic, topic)
    assert {p: committed[p] for p in expected} == expected


def test_a_batch_ack_refuses_a_message_of_another_consumer(
    kafka_brokers: str, kafka_topic: Callable[..., str]
) -> None:
    topic = kafka_topic()
    kt.produce_messages(kafka_brokers, topic, "a", "b")
    with new_consumer(kafka_brokers, topic) as c:
        got = take(c, 2)
        with pytest.raises(ClientError, match="did not hand out"):
            c.ack_batch([got[0], Message(value=b"x")])


def test_with_manual_error_handling_a_failed_delivery_stops_commits_without_growing(
    kafka_brokers: str, kafka_topic: Callable[..., str], caplog: pytest.LogCaptureFixture
) -> None:
    """The process goes on after a failed output: nothing past it is committed (it is
    consumed again after a restart), and the acks waiting behind it are dropped with an
    error in the log instead of piling up for ever."""
    src, dst = kafka_topic(), kafka_topic(**{"max.message.bytes": "1000"})
    n, bad = 3000, 10
    with kafka.new_producer(*kt.producer_options(kafka_brokers, src)) as seed:
        for v in values(n):
            seed.send(Message(value=v))
    group = kt.random_name("group")
    c = new_consumer(kafka_brokers, src, group)
    p = kafka.new_producer(
        *kt.producer_options(kafka_brokers, dst),
        options.kafka_compression_codec("none"),
        options.manual_error_handling(),
    )
    try:
        with caplog.at_level(logging.ERROR):
            for m in take(c, n):
                big = m.offset == bad
                p.send(Message(value=b"x" * 5000 if big else m.value))
                c.ack(m)
            p.flush(TIMEOUT)
            assert "MSG_SIZE_TOO_LARGE" in str(p.errors().get(TIMEOUT))
            c.backlog()  # (applies what can be applied)
            assert len(c._pending) <= 1
            assert len(p._sink._dr.tracker._ahead) == 0
    finally:
        p.close()
        c.close()
    committed = kt.committed_offsets(kafka_brokers, group, src)[0]
    assert committed <= bad  # never past the input whose output failed
    assert any("will not be committed" in r.getMessage() for r in caplog.records)


def test_a_partition_paused_for_a_busy_worker_is_fetched_again_after_a_rebalance(
    kafka_brokers: str, kafka_topic: Callable[..., str]
) -> None:
    """librdkafka keeps an application's pause through a later assignment: the consumer
    resumes what it paused when partitions are revoked, so none stays stuck."""
    topic = kafka_topic(partitions=2)
    producer = Producer({"bootstrap.servers": kafka_brokers})
    producer.produce(topic, b"a", partition=0)
    assert producer.flush(10) == 0
    group = kt.random_name("group")
    c1 = new_consumer(kafka_brokers, topic, group)
    [first] = take(c1, 1)
    assert c1.pause([first]) == [(topic, 0)]
    assert c1.pause([first]) == []  # paused already
    producer.produce(topic, b"b", partition=0)
    assert producer.flush(10) == 0
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:  # paused: nothing more comes
        c1._fill()
        assert not c1._buffer
    got: dict[Any, list[bytes]] = {c1: []}
    stops = {c1: threading.Event()}

    def serve(c: Any) -> None:  # members must poll for a rebalance to finish
        while not stops[c].is_set():
            c._fill()
            got[c].extend(m.value for m in c._buffer)
            c._buffer.clear()

    t1 = threading.Thread(target=serve, args=(c1,), daemon=True)
    t1.start()
    c2 = new_consumer(kafka_brokers, topic, group)  # joins: the partition is revoked
    got[c2] = []
    stops[c2] = threading.Event()
    t2 = threading.Thread(target=serve, args=(c2,), daemon=True)
    t2.start()
    deadline = time.monotonic() + TIMEOUT
    while first._opaque in c1._source._parts.current():
        assert time.monotonic() < deadline, "no rebalance"
        time.sleep(0.05)
    assert not c1._source._paused  # resumed when it went
    stops[c2].set()
    t2.join(5)
    c2.close()  # leaves: the partition comes back to c1, which fetches it again
    deadline = time.monotonic() + TIMEOUT
    while b"b" not in got[c1]:
        assert time.monotonic() < deadline, f"c1 got {got[c1]} (c2 got {got[c2]})"
        time.sleep(0.05)
    stops[c1].set()
    t1.join(5)
    c1.close()


def test_pausing_the_last_partition_still_fetched_is_refused(
    kafka_brokers: str, kafka_topic: Callable[..., str]
) -> None:
    """A pause that would leave nothing to fetch only costs a fetch again later: the
    consumer refuses it (the runner then waits for the busy worker instead)."""
    topic = kafka_topic(partitions=2)
    producer = Producer({"bootstrap.servers": kafka_brokers})
    for part in (0, 1):
        producer.produce(topic, b"x", partition=part)
    assert producer.flush(10) == 0
    c = new_consumer(kafka_brokers, topic)
    by_partition = {m._opaque.partition: m for m in take(c, 2)}
    assert c.pause([by_partition[0]]) == [(topic, 0)]
    assert c.pause([by_partition[1]]) is None
    c.resume([(topic, 0)])
    assert c.pause([by_partition[1]]) == [(topic, 1)]
    c.close()


def test_every_message_carries_its_partition_and_producers_ignore_it(
    kafka_brokers: str, kafka_topic: Callable[..., str]
) -> None:
    """Runs of one partition and batches mixing three: each message says where it came
    from; sending it on routes by key, not by that partition."""
    topic, out = kafka_topic(partitions=3), kafka_topic(partitions=3)
    p = Producer({"bootstrap.servers": kafka_brokers, "linger.ms": 50})
    for i in range(300):
        p.produce(topic, b"p%d-%d" % (i % 3, i), partition=i % 3)  # batches mix partitions
    for i in range(300):
        p.produce(topic, b"p1-run-%d" % i, partition=1)  # a run of one partition
    assert p.flush(TIMEOUT) == 0
    with new_consumer(kafka_brokers, topic) as c:
        got = take(c, 600, ack=True)
    assert all(m.value is not None and m.partition == int(m.value[1:2]) for m in got)
    assert {m.partition for m in got} == {0, 1, 2}
    with kafka.new_producer(*kt.producer_options(kafka_brokers, out)) as prod:
        prod.send(Message(value=b"keyed", key=b"same", partition=2))
        prod.send(Message(value=b"keyed", key=b"same", partition=0))
    assert len({m.partition for m in kt.read_messages(kafka_brokers, out)}) == 1
