"""Kafka records ↔ messages: lazy timestamp and tags, header and timestamp mapping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from confluent_kafka import Message as Record

from streamprocessor.clients.kafka.message import (
    KafkaMessage,
    headers_to_tags,
    message_type,
    timestamp_ms,
    to_datetime,
)
from streamprocessor.stream.message import Message


def make(record: Record) -> KafkaMessage:
    """A message as the consumer builds it, of partition 3 of topic ``t``."""
    m = message_type("t", 3)()
    m.value = record.value()
    m.key = record.key()
    m.offset = 1
    m._opaque = None
    m._record = record
    return m


def test_timestamp_and_tags_are_built_from_the_record_on_access() -> None:
    r = Record(topic="t", value=b"v", headers=[("a", b"1"), ("b", None)], timestamp=(1, 1500))
    m = make(r)
    assert m.timestamp == datetime(1970, 1, 1, 0, 0, 1, 500000, tzinfo=UTC)
    assert m.tags == {"a": b"1", "b": b""}
    assert m.tags is m.tags  # built once, then the user's to change


def test_timestamp_and_tags_can_be_assigned() -> None:
    m = make(Record(topic="t", value=b"v", timestamp=(1, 5)))
    m.timestamp = None
    m.tags = {"x": b"y"}
    assert m.timestamp is None
    assert m.tags == {"x": b"y"}


def test_a_kafka_message_compares_and_copies_like_a_message() -> None:
    m = make(Record(topic="t", value=b"v", key=b"k", headers=[("h", b"1")], timestamp=(1, 7)))
    c = m.copy()
    assert type(c) is Message
    assert c == m
    assert c.tags == {"h": b"1"}
    assert (c.consumer_topic, c.partition, c.offset) == ("t", 3, 1)


def test_a_kafka_message_knows_its_partition_and_it_can_be_assigned() -> None:
    """The partition is the class's (nothing stored per record); assigning it works."""
    m = make(Record(topic="t", value=b"v"))
    assert m.partition == 3
    assert "partition=3" in repr(m)
    m.partition = 5
    assert m.partition == 5
    assert make(Record(topic="t", value=b"v")).partition == 3


def test_record_without_timestamp_gives_none() -> None:
    assert to_datetime((0, -1)) is None


def test_headers_to_tags_keeps_the_last_duplicate() -> None:
    assert headers_to_tags([("a", b"1"), ("a", b"2")]) == {"a": b"2"}
    assert headers_to_tags(None) == {}


def test_timestamp_ms_is_exact_and_epoch_or_earlier_means_now() -> None:
    ts = datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)
    assert to_datetime((1, timestamp_ms(ts))) == ts
    assert timestamp_ms(datetime(1970, 1, 1, tzinfo=UTC)) == 0
    assert timestamp_ms(datetime(1960, 1, 1, tzinfo=UTC)) == 0


def test_timestamp_ms_takes_other_zones_and_naive_utc() -> None:
    cet = timezone(timedelta(hours=1))
    assert timestamp_ms(datetime(1970, 1, 1, 1, 0, 1, tzinfo=cet)) == 1000
    assert timestamp_ms(datetime(1970, 1, 1, 0, 0, 2)) == 2000


def test_headers_with_an_empty_key_and_no_value_are_dropped() -> None:
    """The Go original's producer puts one ("", null) header per tag before the real ones."""
    go = [("", None), ("", None), ("trace", b"abc"), ("empty", None)]
    assert headers_to_tags(go) == {"trace": b"abc", "empty": b""}
    assert headers_to_tags([("", None)]) == {}
    assert headers_to_tags([("", b"")]) == {"": b""}  # a real (empty) value is a tag
    assert headers_to_tags([("", b"v")]) == {"": b"v"}
