"""Kafka records ↔ :class:`~streamprocessor.Message`.

A consumed record becomes a :class:`KafkaMessage`: a ``Message`` whose ``timestamp`` and
``tags`` are built from the record on first access, so a processor that never looks at
them does not pay for a ``datetime`` and a dict per message. Both stay assignable.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from streamprocessor.stream.message import Message

__all__ = ["KafkaMessage", "headers_to_tags", "timestamp_ms", "to_datetime"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_TIMESTAMP_NOT_AVAILABLE = 0

# the slots of the base class, reached past the properties that shadow them
_TS_SLOT: Any = Message.__dict__["timestamp"]
_TAGS_SLOT: Any = Message.__dict__["tags"]


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

    Kafka allows a key twice; the last one wins, as in a dict.
    """
    if not headers:
        return {}
    return {k: (b"" if v is None else v) for k, v in headers}


class KafkaMessage(Message):
    """A consumed Kafka record; ``timestamp`` and ``tags`` are built when first read."""

    __slots__ = ("_record",)

    _record: Any

    @property
    def timestamp(self) -> datetime | None:
        """The record's timestamp (UTC), or None when the record has none."""
        try:
            value: datetime | None = _TS_SLOT.__get__(self, KafkaMessage)
        except AttributeError:
            value = to_datetime(self._record.timestamp())
            _TS_SLOT.__set__(self, value)
        return value

    @timestamp.setter
    def timestamp(self, value: datetime | None) -> None:
        _TS_SLOT.__set__(self, value)

    @property
    def tags(self) -> dict[str, bytes]:
        """The record's headers as a dict (built on first access, then yours to change)."""
        try:
            value: dict[str, bytes] = _TAGS_SLOT.__get__(self, KafkaMessage)
        except AttributeError:
            value = headers_to_tags(self._record.headers())
            _TAGS_SLOT.__set__(self, value)
        return value

    @tags.setter
    def tags(self, value: dict[str, bytes]) -> None:
        _TAGS_SLOT.__set__(self, value)
