"""The message that flows through every client."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from streamprocessor.stream.errors import OpaqueAlreadySet

__all__ = [
    "Message",
    "message_opaque",
    "set_message_opaque",
    "test_message",
]


class Message:
    """One message of a stream.

    ``value`` is the body (``None`` is a Kafka tombstone), ``key`` identifies the message
    (Kafka partitions by it), ``timestamp`` is timezone-aware UTC or ``None``, ``tags`` are
    key/value labels (Kafka headers), ``consumer_topic`` says where a consumer got the
    message, ``producer_topic`` tells a producer where to send it (empty: the producer's
    configured topic), ``offset`` is the position in the source stream and ``partition``
    the Kafka partition it came from (``None`` from other consumers). Both are read-only
    in spirit: every producer ignores them (Kafka routes by ``key``, never by the
    ``partition`` a message was consumed from).

    A consumer may attach client data (the opaque value) that ``ack``/``nack`` need; a copy
    made with :meth:`copy` keeps it, a message built by hand has none.
    """

    __slots__ = (
        "_opaque",
        "consumer_topic",
        "key",
        "offset",
        "partition",
        "producer_topic",
        "tags",
        "timestamp",
        "value",
    )

    value: bytes | None
    key: bytes | None
    timestamp: datetime | None
    tags: dict[str, bytes]
    consumer_topic: str
    producer_topic: str
    offset: int | None
    partition: int | None
    #: whether ``offset`` counts lines of a text stream (log lines then say "line N")
    _counts_lines = False

    def __init__(
        self,
        value: bytes | None = b"",
        key: bytes | None = None,
        timestamp: datetime | None = None,
        tags: dict[str, bytes] | None = None,
        consumer_topic: str = "",
        producer_topic: str = "",
        offset: int | None = None,
        partition: int | None = None,
    ) -> None:
        self.value = value
        self.key = key
        self.timestamp = timestamp
        self.tags = {} if tags is None else tags
        self.consumer_topic = consumer_topic
        self.producer_topic = producer_topic
        self.offset = offset
        self.partition = partition
        self._opaque: Any = None

    def copy(self) -> Message:
        """Return a copy: a new tags dict, the same (immutable) bytes, the same opaque."""
        m = Message.__new__(Message)
        m.value = self.value
        m.key = self.key
        m.timestamp = self.timestamp
        m.tags = dict(self.tags)
        m.consumer_topic = self.consumer_topic
        m.producer_topic = self.producer_topic
        m.offset = self.offset
        m.partition = self.partition
        m._opaque = self._opaque
        return m

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Message):
            return NotImplemented
        return (
            self.value == other.value
            and self.key == other.key
            and self.timestamp == other.timestamp
            and self.tags == other.tags
            and self.consumer_topic == other.consumer_topic
            and self.producer_topic == other.producer_topic
            and self.offset == other.offset
            and self.partition == other.partition
        )

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        parts = [f"value={self.value!r}"]
        if self.key is not None:
            parts.append(f"key={self.key!r}")
        if self.timestamp is not None:
            parts.append(f"timestamp={self.timestamp.isoformat()}")
        if self.tags:
            parts.append(f"tags={self.tags!r}")
        if self.consumer_topic:
            parts.append(f"consumer_topic={self.consumer_topic!r}")
        if self.producer_topic:
            parts.append(f"producer_topic={self.producer_topic!r}")
        if self.offset is not None:
            parts.append(f"offset={self.offset}")
        if self.partition is not None:
            parts.append(f"partition={self.partition}")
        return f"Message({', '.join(parts)})"


def message_opaque(msg: Message) -> Any:
    """Return the client data a consumer attached to ``msg`` (``None`` when unset)."""
    return msg._opaque


def set_message_opaque(msg: Message, opaque: Any) -> None:
    """Attach client data to ``msg``; raise :class:`OpaqueAlreadySet` if some is already set.

    Setting ``None`` is always allowed and changes nothing. The existing value is never
    replaced.
    """
    if msg._opaque is not None:
        raise OpaqueAlreadySet("opaque value can only be set once")
    msg._opaque = opaque


def test_message(key: str | bytes = b"", value: str | bytes = b"") -> Message:
    """Return a fully populated message for tests (the original's ``TestMessage``).

    Empty key and value become ``testKey`` / ``testValue``; timestamp is the Unix epoch,
    topics ``testConsumerTopic`` / ``testProducerTopic``, offset 12, two tags.
    """
    k = key.encode() if isinstance(key, str) else key
    v = value.encode() if isinstance(value, str) else value
    return Message(
        value=v or b"testValue",
        key=k or b"testKey",
        timestamp=datetime.fromtimestamp(0, UTC),
        tags={"testTagKey1": b"testTagValue1", "testTagKey2": b"testTagValue2"},
        consumer_topic="testConsumerTopic",
        producer_topic="testProducerTopic",
        offset=12,
    )


test_message.__test__ = False  # type: ignore[attr-defined]  # never collected by pytest
