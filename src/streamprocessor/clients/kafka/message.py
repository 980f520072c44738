"""Kafka records ↔ :class:`~streamprocessor.Message`.

A consumed record becomes a :class:`KafkaMessage`: a ``Message`` whose ``timestamp`` and
``tags`` are built from the record on first access, so a processor that never looks at
them does not pay for a ``datetime`` and a dict per message. Both stay assignable.

For speed a KafkaMessage has a ``__dict__``: ``producer_topic`` (``""``) is a class
attribute, the lazy fields are non-data descriptors that put what they build in the
message's ``__dict__`` (read directly from then on), and any assignment lands there too.
The consumer stores five fields per record (``value``, ``key``, ``offset``, ``_record``
and the partition's state as ``_opaque``, which every ``ack`` reads: a slot is read faster
than a class attribute); each partition's messages are of a subclass that holds
``consumer_topic`` and ``partition``, see :func:`message_type`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from streamprocessor.stream.message import Message

__all__ = ["KafkaMessage", "headers_to_tags", "message_type", "timestamp_ms", "to_datetime"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_TIMESTAMP_NOT_AVAILABLE = 0


def to_datetime(ts: tuple[int, int]) -> datetime | None:
    """Return a record's ``(type, milliseconds)`` timestamp as UTC (None when absent)."""
    kind, ms = ts
    if kind == _TIMESTAMP_NOT_AVAILABLE:
        return None
    return _EPOCH + timedelta(milliseconds=ms)


def timestamp_ms(ts: datetime) -> int:
    """Return ``ts`` in milliseconds since the epoch; 0 (let Kafka stamp it) at or before it.

    A naive ``datetime`` is taken as UTC.
    """
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    ms = (ts - _EPOCH) // _MS
    return ms if ms > 0 else 0


def headers_to_tags(headers: list[tuple[str, bytes | None]] | None) -> dict[str, bytes]:
    """Return record headers as tags; a header without value becomes ``b""``.

    A header with an empty key and no value is dropped: the Go original's producer writes
    one such header per tag in front of the real ones. Kafka allows a key twice; the last
    one wins, as in a dict.
    """
    if not headers:
        return {}
    return {k: (b"" if v is None else v) for k, v in headers if k or v is not None}


class _FromRecord:
    """A field built from the record when first read, then kept in the message.

    A non-data descriptor: what it builds goes to the message's ``__dict__``, which
    Python reads before it from then on, and an assignment goes there directly.
    """

    def __init__(self, build: Any) -> None:
        self.build = build
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, msg: Any, owner: type | None = None) -> Any:
        if msg is None:
            return self
        value = self.build(msg._record)
        msg.__dict__[self.name] = value
        return value


class KafkaMessage(Message):
    """A consumed Kafka record; ``timestamp`` and ``tags`` are built when first read."""

    __slots__ = ("__dict__", "_record")
    __init__ = object.__init__  # (the consumer fills the fields)

    _record: Any
    producer_topic = ""
    timestamp = _FromRecord(lambda record: to_datetime(record.timestamp()))
    tags = _FromRecord(lambda record: headers_to_tags(record.headers()))


def message_type(topic: str, partition: int) -> type[KafkaMessage]:
    """Return the class of one partition's messages.

    Its ``consumer_topic`` and ``partition`` are class attributes, so the consumer does
    not store them per message.
    """
    fields = {"__slots__": (), "consumer_topic": topic, "partition": partition}
    cls: type[KafkaMessage] = type("KafkaMessage", (KafkaMessage,), fields)
    return cls
