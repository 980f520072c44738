"""Helpers for tests against a live Kafka broker, with topic creation and cleanup.

The counterpart of the original's ``kafkaclient/testing.go``.

Every wait is bounded; every helper uses its own short-lived raw client::

    from streamprocessor.clients.kafka import testing as kt

    topic = kt.create_topic(brokers)                     # fresh, unique name
    kt.produce_messages(brokers, topic, "a", ("key", "b"))
    consumer = kafka.new_consumer(*kt.consumer_options(brokers, topic))
    kt.wait_for_assignment(consumer)
    ...
    kt.read_messages(brokers, topic)                     # everything in the topic now
    kt.committed_offsets(brokers, group, topic)          # {partition: offset}
    kt.delete_topics(brokers, [topic])

The pytest plugin of streamprocessor wraps these as the fixtures ``kafka_brokers`` and
``kafka_topic``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from streamprocessor import options as opt
from streamprocessor.clients.kafka.message import headers_to_tags, timestamp_ms, to_datetime
from streamprocessor.options import Option
from streamprocessor.stream.message import Message

__all__ = [
    "committed_offsets",
    "consumer_options",
    "create_topic",
    "delete_topics",
    "produce_messages",
    "producer_options",
    "random_name",
    "read_messages",
    "wait_for_assignment",
]


def random_name(prefix: str = "streamprocessor-test") -> str:
    """Return a unique topic or group name."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def create_topic(
    brokers: str,
    name: str | None = None,
    partitions: int = 1,
    config: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> str:
    """Create a topic (a fresh unique name unless ``name`` is given) and wait for leaders.

    Returns the topic name. Replication uses the broker's default.
    """
    topic = name or random_name()
    admin = AdminClient({"bootstrap.servers": brokers})
    new = NewTopic(topic, num_partitions=partitions, config=dict(config or {}))
    futures = admin.create_topics([new], request_timeout=timeout)
    futures[topic].result(timeout=timeout)
    _wait_for_leaders(admin, topic, partitions, timeout)
    return topic


def _wait_for_leaders(admin: AdminClient, topic: str, partitions: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            md = admin.list_topics(topic, timeout=max(deadline - time.monotonic(), 0.1))
            t = md.topics.get(topic)
            if (
                t is not None
                and t.error is None
                and len(t.partitions) == partitions
                and all(p.leader >= 0 for p in t.partitions.values())
            ):
                return
        except KafkaException:
            pass
        if time.monotonic() >= deadline:
            raise TimeoutError(
                f"topic {topic!r} has no leader for every partition after {timeout:g}s"
            )
        time.sleep(0.05)


def delete_topics(brokers: str, names: Iterable[str], timeout: float = 30.0) -> None:
    """Delete topics (missing ones are ignored)."""
    topics = list(names)
    if not topics:
        return
    admin = AdminClient({"bootstrap.servers": brokers})
    for topic, future in admin.delete_topics(topics, request_timeout=timeout).items():
        try:
            future.result(timeout=timeout)
        except KafkaException as exc:
            if "UNKNOWN_TOPIC" not in str(exc):
                raise RuntimeError(f"unable to delete topic {topic!r}: {exc}") from exc


def produce_messages(
    brokers: str, topic: str, *values: Any, timeout: float = 10.0
) -> list[tuple[int, int]]:
    """Produce raw messages to ``topic`` and wait for each delivery.

    A value is ``str``/``bytes`` (the value), a ``(key, value)`` pair, or a
    :class:`Message` (its value, key, timestamp and tags). Returns (partition, offset)
    per message.
    """
    p = Producer(
        {
            "bootstrap.servers": brokers,
            "client.id": "testKafkaProducer",
            "acks": "all",
            "linger.ms": 0,
        }
    )
    results: list[tuple[int, int]] = []
    for v in values:
        key: bytes | None = None
        headers: Any = None
        ts = 0
        if isinstance(v, Message):
            key, value = v.key, v.value
            headers = list(v.tags.items()) or None
            ts = timestamp_ms(v.timestamp) if v.timestamp is not None else 0
        elif isinstance(v, tuple | list):
            if len(v) != 2:
                raise ValueError(f"expected (key, value), got {v!r}")
            key, value = _bytes(v[0]), _bytes(v[1])
        else:
            value = _bytes(v)
        box: list[Any] = []

        def report(err: Any, msg: Any, box: list[Any] = box) -> None:
            box.append((err, msg))

        p.produce(topic, value, key, -1, report, None, ts, headers)
        deadline = time.monotonic() + timeout
        while not box and time.monotonic() < deadline:
            p.poll(0.1)
        if not box:
            raise TimeoutError("Timeout while waiting for message to be delivered.")
        err, msg = box[0]
        if err is not None:
            raise RuntimeError(f"message delivery failed: {err}")
        results.append((msg.partition(), msg.offset()))
    if p.flush(timeout):
        raise TimeoutError("expected all messages to be flushed")
    return results


def _bytes(v: Any) -> bytes | None:
    if v is None or isinstance(v, bytes):
        return v
    if isinstance(v, str):
        return v.encode()
    raise TypeError(f"invalid value type {type(v).__name__}: use str, bytes or None")


def read_messages(
    brokers: str, topic: str, timeout: float = 10.0, count: int | None = None
) -> list[Message]:
    """Return the messages in ``topic`` now (every partition, oldest first per partition).

    Reads without a consumer group up to the high watermarks seen at the start (or until
    ``count`` messages). Raises ``TimeoutError`` when that takes longer than ``timeout``.
    """
    c = Consumer(
        {
            "bootstrap.servers": brokers,
            "group.id": random_name("reader"),
            "enable.auto.commit": False,
            "client.id": "testKafkaConsumer",
        }
    )
    try:
        md = c.list_topics(topic, timeout=timeout)
        t = md.topics.get(topic)
        if t is None or t.error is not None:
            raise RuntimeError(f"topic {topic!r} not found: {t.error if t else 'no metadata'}")
        ends: dict[int, int] = {}
        assign = []
        for p in sorted(t.partitions):
            low, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)
            if high > low:
                ends[p] = high
                assign.append(TopicPartition(topic, p, low))
        out: list[Message] = []
        if not assign:
            return out
        c.assign(assign)
        deadline = time.monotonic() + timeout
        while ends and (count is None or len(out) < count):
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"Timeout while waiting for message to be returned ({len(out)} read)."
                )
            for m in c.consume(1000, 0.1):
                part: Any = m.partition()
                if m.error() is not None or part not in ends:
                    continue
                offset: Any = m.offset()
                headers: Any = m.headers()
                out.append(
                    Message(
                        value=m.value(),
                        key=m.key(),
                        timestamp=to_datetime(m.timestamp()),
                        tags=headers_to_tags(headers),
                        consumer_topic=topic,
                        offset=offset,
                        partition=part,
                    )
                )
                if offset + 1 >= ends[part]:
                    del ends[part]
        return out if count is None else out[:count]
    finally:
        c.close()


def committed_offsets(
    brokers: str, group: str, topic: str, timeout: float = 10.0
) -> dict[int, int]:
    """Return the offsets ``group`` committed for the partitions of ``topic`` (-1001: none)."""
    c = Consumer({"bootstrap.servers": brokers, "group.id": group, "enable.auto.commit": False})
    try:
        md = c.list_topics(topic, timeout=timeout)
        parts = [TopicPartition(topic, p) for p in sorted(md.topics[topic].partitions)]
        return {tp.partition: tp.offset for tp in c.committed(parts, timeout=timeout)}
    finally:
        c.close()


def wait_for_assignment(consumer: Any, timeout: float = 10.0) -> None:
    """Wait until a Kafka consumer has partitions assigned (messages stay buffered).

    Raises ``TimeoutError`` with the original's text after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while not consumer._source._parts.states:
        if time.monotonic() >= deadline:
            raise TimeoutError("timeout while waiting for topic assignment")
        consumer._fill()
        if consumer._unusable:
            consumer._check("wait for assignment")


def consumer_options(
    brokers: str, topic: str, group: str | None = None, *extra: Option
) -> list[Option]:
    """Return options for a test consumer of ``topic`` (group = ``group`` or the topic).

    Short session and commit intervals as in the original's ``TestConsumerConfig``.
    """
    return [
        opt.kafka_broker(brokers),
        opt.kafka_topic(topic),
        opt.kafka_group_id(group or topic),
        opt.kafka_id("testConsumer"),
        opt.kafka_session_timeout(timedelta(seconds=6)),
        opt.kafka_heartbeat_interval(timedelta(milliseconds=500)),
        opt.kafka_commit_interval(timedelta(milliseconds=500)),
        opt.kafka_offset_initial("beginning"),
        *extra,
    ]


def producer_options(brokers: str, topic: str, *extra: Option) -> list[Option]:
    """Return options for a test producer to ``topic`` (short batching delay)."""
    return [
        opt.kafka_broker(brokers),
        opt.kafka_topic(topic),
        opt.kafka_id("testProducer"),
        opt.kafka_max_queue_buffer_duration(timedelta(milliseconds=5)),
        *extra,
    ]
