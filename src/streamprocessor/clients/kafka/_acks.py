"""Commits and rewinds of the Kafka source: acknowledged offsets, per partition, and seeks.

The front hands :meth:`AckMixin.commit` the acknowledged messages of a window whose
barrier is passed — usually the offsets of one partition's batch, in order, which move its
position in one step (``PartitionState.ack_all``); the position reaches librdkafka's offset
store at the next fetch and by the offset ticker. A nack (``rewind``) forgets the message
and the later ones of its partition (also those buffered in the front) and seeks the
partition back to it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from streamprocessor.clients.kafka._assignment import Assignment
from streamprocessor.clients.kafka._errors import kafka_error, translated
from streamprocessor.clients.kafka._lifecycle import ConsumeGate, HandleGuard
from streamprocessor.clients.kafka._offsets import PartitionState
from streamprocessor.clients.ports import SourceLink
from streamprocessor.stream.errors import ClientError
from streamprocessor.stream.message import Message
from streamprocessor.util.throttle import THROTTLE

__all__ = ["AckMixin"]




class AckMixin:
    """``commit`` and ``rewind`` of :class:`~streamprocessor.clients.kafka.consumer.KafkaSource`."""

    _parts: Assignment
    _guard: HandleGuard
    _gate: ConsumeGate
    _link: SourceLink
    _c: Any
    _pause_lock: threading.Lock

    def ack_holders(self) -> list[PartitionState]:
        """The states of the assigned partitions (their ``acks`` lists)."""
        return list(self._parts.states.values())

    def commit(self, acked: list[tuple[PartitionState, list[int]]]) -> None:
        """Move the positions of the partitions of ``acked`` over what they acknowledge."""
        self._parts.ack_groups(acked)

    def rewind(self, msg: Message) -> Message | None:
        """Seek ``msg``'s partition back to it: it and every later message come again."""
        state: PartitionState = msg._opaque
        if not isinstance(msg.offset, int):
            raise ClientError(
                f"cannot nack a message whose offset is {msg.offset!r}: nack the message "
                "object you got from iterating the consumer, with its offset unchanged"
            )
        off: int = msg.offset
        with self._parts.lock:
            if state.revoked:
                THROTTLE.warning(
                    self._link.log,
                    ("revoked-nacks", id(self)),
                    "Ignoring the nack of %s[%d] offset %d: the partition was revoked",
                    state.topic,
                    state.partition,
                    off,
                )
                return None
            state.truncate(off)
            self._link.drop(
                lambda m: m._opaque is state and m.offset is not None and m.offset >= off
            )
        self._seek(state, off)
        return None

    def rewind_all(self) -> tuple[Callable[[Message], bool], int]:
        """Seek every partition back to its first message not committed (see the Source).

        Every partition forgets its outstanding messages (also those buffered in the
        front) and is fetched again from the first of them. Returns ``(again, n)``:
        ``again(msg)`` says whether ``msg`` is one of the ``n`` messages that come again.
        """
        ranges: dict[PartitionState, tuple[int, int]] = {}
        with self._parts.lock:
            for state in self._parts.states.values():
                if state.runs and not state.revoked:
                    ranges[state] = (state.runs[0][0], state.runs[-1][1])
            n = sum(state.outstanding for state in ranges)
            for state, (first, _) in ranges.items():
                state.truncate(first)
            self._link.drop(lambda m: m._opaque in ranges)
        for state, (first, _) in ranges.items():
            self._seek(state, first)

        def again(msg: Message) -> bool:
            r = ranges.get(msg._opaque)
            return r is not None and r[0] <= msg.offset < r[1]  # type: ignore[operator]

        return again, n

    def _seek(self, state: PartitionState, off: int) -> None:
        if not self._guard.enter():
            return
        try:
            tp = TopicPartition(state.topic, state.partition, off)
            for attempt in range(40):
                try:
                    with self._gate.other():
                        self._c.seek(tp)
                    return
                except KafkaException as exc:
                    err = kafka_error(exc)
                    doing = f"unable to nack {state.topic}[{state.partition}] offset {off}"
                    # right after an assignment the fetcher may not be ready yet
                    if err is None or err.code() != KafkaError._STATE:
                        raise translated(exc, f"{doing}: seek failed") from exc
                    if attempt == 39:
                        raise translated(
                            exc, f"{doing}: the partition is not being fetched"
                        ) from exc
                    time.sleep(0.05)
        finally:
            self._guard.exit()
