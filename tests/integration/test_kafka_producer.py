"""The Kafka producer against a real broker: routing, headers, back-pressure, deliveries."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from streamprocessor import options
from streamprocessor.clients import kafka
from streamprocessor.clients.kafka import testing as kt
from streamprocessor.stream.errors import ClientClosedError, DeliveryError, InvalidMessageError
from streamprocessor.stream.message import Message

pytestmark = pytest.mark.kafka
TIMEOUT = 20.0


def new_producer(brokers: str, topic: str, *opts: Any) -> Any:
    return kafka.new_producer(*kt.producer_options(brokers, topic), *opts)


def raw_headers(brokers: str, topic: str) -> list[Any]:
    """Return the headers of every record in ``topic`` exactly as stored."""
    c = Consumer({"bootstrap.servers": brokers, "group.id": kt.random_name("raw")})
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        out: list[Any] = []
        deadline = time.monotonic() + TIMEOUT
        _, high = c.get_watermark_offsets(TopicPartition(topic, 0), TIMEOUT)
        while len(out) < high and time.monotonic() < deadline:
            out.extend(m.headers() for m in c.consume(100, 0.2) if m.error() is None)
        return out
    finally:
        c.close()


def test_producer_topic_wins_over_the_configured_topic(
    kafka_brokers: str, kafka_topic: Callable[..., str]
) -> None:
    """A message's producer_topic is its destination; otherwise the configured topic."""
    default, other = kafka_topic(), kafka_topic()
    with new_producer(kafka_brokers, default) as p:
        p.send(Message(value=b"to-default"))
        p.send(Message(value=b"to-other", producer_topic=other))
    assert [m.value for m in kt.read_messages(kafka_brokers, default)] == [b"to-default"]
    assert [m.value for m in kt.read_messages(kafka_brokers, other)] == [b"to-other"]


def test_a_consumed_message_is_never_sent_back_to_its_consumer_topic(
    kafka_brokers: str, kafka_topic: Callable[..., str]
) -> None:
    """Re-sending a consumed message goes to the producer's topic (the original's test)."""
    source, sink = kafka_topic(), kafka_topic()
    kt.produce_messages(kafka_brokers, source, ("k", "v"))
    with (
        kafka.new_consumer(*kt.consumer_options(kafka_brokers, source)) as c,
        new_producer(kafka_brokers, sink) as p,
    ):
        m = next(iter(c))
        assert m.consumer_topic == source
        p.send(m)
        c.ack(m)
    assert kt.read_messages(kafka_brokers, source, count=1)[0].value == b"v"
    [out] = kt.read_messages(kafka_brokers, sink)
    assert (out.key, out.value) == (b"k", b"v")
    assert len(kt.read_messages(kafka_brokers, source)) == 1


def test_tags_become_exactly_the_headers(
    kafka_brokers: str, kafka_topic: Callable[..., str]
) -> None:
    """One header per tag and nothing else (the original added empty extra headers)."""
    topic = kafka_topic()
    with new_producer(kafka_brokers, topic) as p:
        p.send(Message(value=b"v", tags={"trace": b"abc", "empty": b""}))
        p.send(Message(value=b"no-tags"))
    first, second = raw_headers(kafka_brokers, topic)
    assert sorted(first) == [("empty", b""), ("trace", b"abc")]
    assert second is None


def test_headers_become_tags(kafka_brokers: str, kafka_topic: Callable[..., str]) -> None:
    """Headers written by another producer arrive as tags."""
    topic = kafka_topic()
    kt.produce_messages(
        kafka_brokers,
        topic,
        Message(value=b"v", key=b"k", tags={"a": b"1", "b": b"2"},
                timestamp=datetime(2020, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)),
    )  # fmt: skip
    with kafka.new_consumer(*kt.consumer_options(kafka_brokers, topic)) as c:
        m = next(iter(c))
    assert m.tags == {"a": b"1", "b": b"2"}
    assert m.timestamp == datetime(2020, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    assert (m.key, m.value, m.offset) == (b"k", b"v", 0)


def test_a_forwarded_record_keeps_its_timestamp_and_headers_unless_changed(
    kafka_brokers: str, kafka_topic: Callable[..., str]
) -> None:
    """Forwarded as consumed, a record keeps its milliseconds and headers; what the
    handler set on it (a timestamp, None, tags) is what is sent instead."""
    source, sink = kafka_topic(), kafka_topic()
    stamp = datetime(2020, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    kt.produce_messages(
        kafka_brokers, source,
        Message(value=b"as-is", tags={"a": b"1"}, timestamp=stamp),
        Message(value=b"bare", timestamp=stamp),
        Message(value=b"new-ts", timestamp=stamp),
        Message(value=b"no-ts", timestamp=stamp),
        Message(value=b"new-tags", timestamp=stamp),
        Message(value=b"read-ts", tags={"b": b"2"}, timestamp=stamp),
    )  # fmt: skip
    later = datetime(2021, 6, 7, 8, 9, 10, 111000, tzinfo=UTC)
    before = datetime.now(UTC).replace(microsecond=0)
    with kafka.new_consumer(*kt.consumer_options(kafka_brokers, source)) as c, \
            new_producer(kafka_brokers, sink) as p:  # fmt: skip
        for m in c:
            if m.value == b"new-ts":
                m.timestamp = later
            elif m.value == b"no-ts":
                m.timestamp = None
            elif m.value == b"new-tags":
                m.tags = {"c": b"3"}
            elif m.value == b"read-ts":
                assert m.timestamp == stamp  # read (and so built) before the send
            p.send(m)
            c.ack(m)
            if m.value == b"read-ts":
                break
        p.flush(TIMEOUT)
    got = {m.value: m for m in kt.read_messages(kafka_brokers, sink, count=6)}
    assert got[b"as-is"].timestamp == stamp and got[b"as-is"].tags == {"a": b"1"}
    assert got[b"bare"].timestamp == stamp and got[b"bare"].tags == {}
    assert got[b"new-ts"].timestamp == later
    stamped = got[b"no-ts"].timestamp  # None: Kafka stamps it with the time of sending
    assert stamped is not None and stamped >= before
    assert got[b"new-tags"].tags == {"c": b"3"} and got[b"new-tags"].timestamp == stamp
    assert got[b"read-ts"].timestamp == stamp and got[b"read-ts"].tags == {"b": b"2"}


def test_the_go_originals_empty_headers_are_not_tags(
    kafka_brokers: str, kafka_topic: Callable[..., str]
) -> None:
    """A record as the Go producer writes it: one ("", null) header per tag, then the tags."""
    topic = kafka_topic()
    raw = Producer({"bootstrap.servers": kafka_brokers})
    headers = [("", None), ("", None), ("a", b"1"), ("b", None)]
    raw.produce(topic, value=b"v", headers=headers)
    assert raw.flush(TIMEOUT) == 0
    assert raw_headers(kafka_brokers, topic) == [headers]  # stored as the original sends them
    with kafka.new_consumer(*kt.consumer_options(kafka_brokers, topic)) as c:
        timer = threading.Timer(TIMEOUT, c.close)  # (ends the iteration if nothing comes)
        timer.start()
        m = next(iter(c))
        timer.cancel()
    assert m.tags == {"a": b"1", "b": b""}


def test_a_tombstone_round_trips_as_none(
    kafka_brokers: str, kafka_topic: Callable[..., str]
) -> None:
    """value=None is sent as a Kafka null value and read back as None."""
    topic = kafka_topic(**{"cleanup.policy": "compact"})
    with new_producer(kafka_brokers, topic) as p:
        p.send(Message(value=None, key=b"gone"))
    [m] = kt.read_messages(kafka_brokers, topic)
    assert (m.key, m.value) == (b"gone", None)


def test_a_full_local_queue_makes_send_wait_instead_of_failing(
    kafka_brokers: str, kafka_topic: Callable[..., str]
) -> None:
    """With room for 10 messages, 3000 sends all arrive: back-pressure, not an error."""
    topic = kafka_topic()
    with new_producer(kafka_brokers, topic, options.kafka_max_queue_size_messages(10)) as p:
        for i in range(3000):
            p.send(Message(value=b"%d" % i))
    got = kt.read_messages(kafka_brokers, topic)
    assert [m.value for m in got] == [b"%d" % i for i in range(3000)]


def test_a_delivery_the_broker_refuses_is_an_error(
    kafka_brokers: str, kafka_topic: Callable[..., str]
) -> None:
    """A record over the topic's size limit fails delivery: flush raises DeliveryError."""
    topic = kafka_topic(**{"max.message.bytes": "1000"})
    p = new_producer(kafka_brokers, topic, options.kafka_compression_codec("none"))
    p.send(Message(value=b"x" * 5000))
    with pytest.raises(DeliveryError, match=r"message delivery failure error.*MSG_SIZE_TOO_LARGE"):
        p.flush(TIMEOUT)
    assert p.closed
    with pytest.raises(ClientClosedError):
        p.send(Message(value=b"after"))


def test_with_manual_error_handling_a_failed_delivery_arrives_on_errors(
    kafka_brokers: str, kafka_topic: Callable[..., str]
) -> None:
    """Manual handling: the DeliveryError is on errors(), the producer stays usable."""
    topic = kafka_topic(**{"max.message.bytes": "1000"})
    p = new_producer(
        kafka_brokers,
        topic,
        options.kafka_compression_codec("none"),
        options.manual_error_handling(),
    )
    p.send(Message(value=b"x" * 5000))
    p.flush(TIMEOUT)
    err = p.errors().get(TIMEOUT)
    assert isinstance(err, DeliveryError)
    p.send(Message(value=b"small"))
    p.close()
    assert [m.value for m in kt.read_messages(kafka_brokers, topic)] == [b"small"]


def test_send_is_safe_from_many_threads(
    kafka_brokers: str, kafka_topic: Callable[..., str]
) -> None:
    """Four threads sending at once: every message arrives once, in order per thread."""
    topic = kafka_topic()
    p = new_producer(kafka_brokers, topic)

    def run(t: int) -> None:
        for i in range(500):
            p.send(Message(value=b"%d-%d" % (t, i), key=b"%d" % t))

    threads = [threading.Thread(target=run, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    p.close()
    got = [m.value for m in kt.read_messages(kafka_brokers, topic)]
    assert len(got) == 2000
    for t in range(4):
        mine = [v for v in got if v is not None and v.startswith(b"%d-" % t)]
        assert mine == [b"%d-%d" % (t, i) for i in range(500)]


def test_producer_configured_only_by_the_environment(
    kafka_brokers: str, kafka_topic: Callable[..., str], stream_env: pytest.MonkeyPatch
) -> None:
    """PRODUCER_* variables alone make a working Kafka producer via the factory."""
    import streamprocessor

    topic = kafka_topic()
    stream_env.setenv("PRODUCER_CLIENT_TYPE", "kafka")
    stream_env.setenv("PRODUCER_KAFKA_BROKERS", kafka_brokers)
    stream_env.setenv("PRODUCER_KAFKA_TOPIC", topic)
    stream_env.setenv("PRODUCER_KAFKA_COMPRESSION_CODEC", "gzip")
    stream_env.setenv("PRODUCER_KAFKA_MAX_QUEUE_BUFFER_DURATION", "1ms")
    with streamprocessor.new_producer() as p:
        assert isinstance(p, kafka.KafkaProducer)
        assert p.config.kafka.compression_codec == "gzip"
        p.send(Message(value=b"from-env"))
    assert [m.value for m in kt.read_messages(kafka_brokers, topic)] == [b"from-env"]


def test_an_ack_is_committed_only_after_the_earlier_send_is_delivered(
    kafka_brokers: str, kafka_topic: Callable[..., str]
) -> None:
    """The ack barrier: with a 3 s batching delay the commit waits for the delivery."""
    source, sink = kafka_topic(), kafka_topic()
    kt.produce_messages(kafka_brokers, source, "in")
    with (
        kafka.new_consumer(
            *kt.consumer_options(kafka_brokers, source),
            options.kafka_commit_interval("100ms"),
        ) as c,
        new_producer(kafka_brokers, sink, options.kafka_max_queue_buffer_duration("3s")) as p,
    ):
        m = next(iter(c))
        sent_at = time.monotonic()
        p.send(Message(value=b"out"))
        c.ack(m)
        time.sleep(1.0)
        assert kt.committed_offsets(kafka_brokers, source, source) == {0: -1001}
        deadline = time.monotonic() + TIMEOUT
        while kt.committed_offsets(kafka_brokers, source, source) != {0: 1}:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert time.monotonic() - sent_at >= 2.5
    assert [o.value for o in kt.read_messages(kafka_brokers, sink)] == [b"out"]


def test_with_two_producers_an_ack_waits_for_both(
    kafka_brokers: str, kafka_topic: Callable[..., str]
) -> None:
    """The general barrier: the ack is committed only after both producers delivered."""
    source, fast_sink, slow_sink = kafka_topic(), kafka_topic(), kafka_topic()
    kt.produce_messages(kafka_brokers, source, "in")
    with (
        kafka.new_consumer(
            *kt.consumer_options(kafka_brokers, source),
            options.kafka_commit_interval("100ms"),
        ) as c,
        new_producer(kafka_brokers, fast_sink) as fast,
        new_producer(
            kafka_brokers, slow_sink, options.kafka_max_queue_buffer_duration("3s")
        ) as slow,
    ):
        m = next(iter(c))
        fast.send(Message(value=b"a"))
        slow.send(Message(value=b"b"))
        c.ack(m)
        fast.flush(TIMEOUT)
        time.sleep(1.0)
        assert kt.committed_offsets(kafka_brokers, source, source) == {0: -1001}
        deadline = time.monotonic() + TIMEOUT
        while kt.committed_offsets(kafka_brokers, source, source) != {0: 1}:
            assert time.monotonic() < deadline
            time.sleep(0.1)


def test_a_field_of_the_wrong_type_is_a_clear_error_and_the_producer_goes_on(
    kafka_brokers: str, kafka_topic: Callable[..., str]
) -> None:
    """A timestamp, tag or topic of the wrong type names the field (it was a raw
    AttributeError or librdkafka's argument error); nothing is sent, the producer stays
    usable."""
    topic = kafka_topic()
    with new_producer(kafka_brokers, topic) as p:
        bad = [
            (Message(value=b"x", timestamp=1700000000), "timestamp is an int"),  # type: ignore[arg-type]
            (Message(value=b"x", tags={"n": 5}), "tag 'n' is an int"),  # type: ignore[dict-item]
            (Message(value=b"x", producer_topic=5), "producer_topic is an int"),  # type: ignore[arg-type]
        ]
        for msg, said in bad:
            with pytest.raises(InvalidMessageError, match=said):
                p.send(msg)
        p.send(Message(value=b"fine"))
    assert [m.value for m in kt.read_messages(kafka_brokers, topic)] == [b"fine"]


def test_the_runner_treats_what_the_kafka_producer_refuses_as_the_handlers_failure(
    kafka_brokers: str, kafka_topic: Callable[..., str], caplog: pytest.LogCaptureFixture
) -> None:
    """The Kafka producer checks every field itself (the runner then does not): a bad
    output is skipped under the skip policy, with the runner's own description of what
    is wrong, and the others are delivered."""
    from streamprocessor.clients import inmem
    from streamprocessor.runner import Runner, RunnerSettings
    from streamprocessor.stores import InmemStore

    topic = kafka_topic()
    source = InmemStore()
    for v in (b"a", b"bad-value", b"bad-key", b"bad-ts", b"bad-tag", b"bad-topic", b"c"):
        source.add(Message(value=v))
    bad: dict[bytes, dict[str, Any]] = {
        b"bad-value": {"value": "text"},
        b"bad-key": {"key": 7},
        b"bad-ts": {"timestamp": 1700000000},
        b"bad-tag": {"tags": {"n": 5}},
        b"bad-topic": {"producer_topic": 5},
    }

    def handler(m: Message) -> Message:
        assert m.value is not None
        return Message(**{"value": m.value, **bad.get(m.value, {})})

    base = (options.disable_environment_config(), options.manual_interrupt_handling())
    caplog.set_level(logging.WARNING, logger="streamprocessor.runner")
    with (
        inmem.new_consumer(*base, options.inmem_store(source)) as c,
        new_producer(kafka_brokers, topic) as p,
    ):
        runner = Runner(c, {"producer": p}, handler, RunnerSettings(on_error="skip"))
        runner.run()
    assert runner.totals()["skipped"] == 5
    assert [m.value for m in kt.read_messages(kafka_brokers, topic)] == [b"a", b"c"]
    skipped = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Skipping")]
    assert len(skipped) == 5
    for said in ("value is a str", "key is an int", "timestamp is an int", "tag 'n'",
                 "producer_topic is an int"):
        assert any(said in line and "HandlerOutputError" in line for line in skipped), said


@pytest.mark.parametrize(
    ("msg", "said"),
    [
        (Message(value=b"x", tags={"a\0b": b"1"}), "tag key 'a\\\\x00b' holds a NUL"),
        (Message(value=b"x", tags={"a": "v\udcff"}), "tag 'a' is a str with a lone surrogate"),
        (Message(value=b"x", producer_topic="t\0"), "producer_topic 't\\\\x00' holds a NUL"),
        (Message(value=b"x", producer_topic="t\udcff"), "is not valid Unicode"),
        (Message(value=b"x", producer_topic="a b"), "'a b' is not a valid Kafka topic name"),
        (Message(value=b"x", producer_topic="t" * 250), "not a valid Kafka topic name"),
        (Message(value=b"x", producer_topic=".."), "not a valid Kafka topic name"),
    ],
    ids=["nul-tag", "surrogate-tag-value", "nul-topic", "surrogate-topic", "space-topic",
         "long-topic", "dot-dot-topic"],
)
def test_a_name_librdkafka_cannot_take_is_refused_before_anything_is_sent(
    kafka_brokers: str, kafka_topic: Callable[..., str], msg: Message, said: str
) -> None:
    """InvalidMessageError naming the field (not a ValueError, a UnicodeEncodeError, a
    name cut at the NUL, or a delivery failure that ends the producer); it goes on."""
    topic = kafka_topic()
    with new_producer(kafka_brokers, topic) as p:
        with pytest.raises(InvalidMessageError, match=said):
            p.send(msg)
        p.send(Message(value=b"fine", tags={"a": b"1"}))
    assert [m.value for m in kt.read_messages(kafka_brokers, topic)] == [b"fine"]


def test_a_tag_name_with_a_lone_surrogate_does_not_crash_the_process(
    kafka_brokers: str, kafka_topic: Callable[..., str]
) -> None:
    """It crashed confluent-kafka (SIGSEGV); run in a child so a regression shows as a
    failure here rather than ending the test session."""
    import subprocess
    import sys

    topic = kafka_topic()
    code = f"""
from streamprocessor.clients import kafka
from streamprocessor.clients.kafka import testing as kt
from streamprocessor.stream import InvalidMessageError, Message
with kafka.new_producer(*kt.producer_options({kafka_brokers!r}, {topic!r})) as p:
    try:
        p.send(Message(value=b"x", tags={{"a\\udcff": b"1"}}))
    except InvalidMessageError as exc:
        print("refused:", exc)
    p.send(Message(value=b"fine"))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=TIMEOUT)
    assert done.returncode == 0, (done.returncode, done.stderr)
    assert "refused: cannot send a Message whose tag key" in done.stdout
    assert "not valid Unicode" in done.stdout
    assert [m.value for m in kt.read_messages(kafka_brokers, topic)] == [b"fine"]


def test_an_output_over_message_max_bytes_is_refused_at_send_and_the_producer_goes_on(
    kafka_brokers: str, kafka_topic: Callable[..., str]
) -> None:
    """Refused in produce(): InvalidMessageError with the size, the limit and the variable
    that raises it (it was a ClientError that ended the run)."""
    topic = kafka_topic()
    with new_producer(kafka_brokers, topic,
                      options.kafka_librdkafka_config({"message.max.bytes": "5000"})) as p:
        with pytest.raises(InvalidMessageError) as info:
            p.send(Message(value=b"x" * 6000, key=b"k"))
        for said in ("6001 bytes", "MSG_SIZE_TOO_LARGE", "message.max.bytes of 5000",
                     "PRODUCER_KAFKA_LIBRDKAFKA_CONFIG=message.max.bytes=N"):
            assert said in str(info.value), said
        p.send(Message(value=b"fine"))
    assert [m.value for m in kt.read_messages(kafka_brokers, topic)] == [b"fine"]
