"""Rebalance callbacks of the Kafka consumer: what happens when partitions come and go.

- assigned: a new generation of partition states; partitions without a committed offset
  start at ``offset_default`` (head/tail) when one is set;
- revoked: flush the producers that pending acks wait on, store and commit synchronously
  what was acknowledged, then drop the partitions' states and buffered messages — so a
  rebalance hands over nothing acknowledged twice; acks that arrive later are no-ops;
- lost (the group moved on without us): drop without committing.

The callbacks run inside ``consume()`` on the iterating thread (or inside ``close()``) and
never raise into librdkafka.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from confluent_kafka import OFFSET_INVALID, KafkaException, TopicPartition

from streamprocessor.clients.kafka._assignment import QUERY_TIMEOUT, Assignment, fmt, positions
from streamprocessor.clients.kafka._errors import translated
from streamprocessor.clients.ports import SourceLink
from streamprocessor.stream.errors import ClientError

__all__ = ["RebalanceMixin"]

_OFFSET_TAIL_BASE = -2000  # librdkafka's logical "n before the end" offsets


class RebalanceMixin:
    """The ``on_assign``/``on_revoke``/``on_lost`` callbacks of the Kafka source."""

    _parts: Assignment
    _log: logging.Logger
    _link: SourceLink
    _offset_default: int | None
    _incremental: bool
    _handle_closing: bool

    if TYPE_CHECKING:  # provided by the source

        @property
        def shutdown_timeout(self) -> float:
            """Seconds a revoke may take."""

        def _unpause(self, partitions: list[TopicPartition]) -> None: ...

    def _on_assign(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        try:
            self._unpause(partitions)
            self._parts.assign(partitions)
            self._log.info(
                "Received event from Kafka.",
                extra={"event": "AssignedPartitions", "partitions": fmt(partitions)},
            )
            if self._offset_default is not None and partitions:
                self._apply_offset_default(consumer, partitions)
        except BaseException as exc:  # never into librdkafka
            self._link.fail(ClientError(f"failed to assign partitions {fmt(partitions)}: {exc}"))

    def _apply_offset_default(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        """Start partitions without a committed offset at ``offset_default``."""
        default = self._offset_default
        assert default is not None
        target = default if default >= 0 else _OFFSET_TAIL_BASE + default
        try:
            committed = consumer.committed(
                [TopicPartition(tp.topic, tp.partition) for tp in partitions], QUERY_TIMEOUT
            )
        except KafkaException as exc:
            error = translated(
                exc,
                f"unable to retrieve committed offsets of {fmt(partitions)} to apply the "
                "default offset",
            )
            error.__cause__ = exc
            self._link.fail(error)
            return
        starts = {(c.topic, c.partition): c.offset for c in committed}
        out = []
        for tp in partitions:
            start = starts.get((tp.topic, tp.partition), OFFSET_INVALID)
            out.append(
                TopicPartition(tp.topic, tp.partition, target if start == OFFSET_INVALID else start)
            )
        if self._incremental:
            consumer.incremental_assign(out)
        else:
            consumer.assign(out)

    def _on_revoke(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        try:
            self._log.info(
                "Received event from Kafka.",
                extra={"event": "RevokedPartitions", "partitions": fmt(partitions)},
            )
            self._release(partitions, commit=not self._handle_closing)
        except BaseException as exc:  # never into librdkafka
            self._log.error("Failed to release partitions %s: %s", fmt(partitions), exc)

    def _on_lost(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        try:
            self._log.warning(
                "Partitions %s were lost (the group moved on without this consumer): "
                "acknowledgements since the last commit will be consumed again",
                fmt(partitions),
            )
            self._release(partitions, commit=False)
        except BaseException as exc:  # never into librdkafka
            self._log.error("Failed to release lost partitions %s: %s", fmt(partitions), exc)

    def _release(self, partitions: list[TopicPartition], commit: bool) -> None:
        """Commit what was acknowledged on ``partitions`` (if asked), then let them go."""
        parts = self._parts
        states = parts.owned(partitions)
        if commit and states:
            self._link.flush_barrier(self.shutdown_timeout)
            parts.store(states)
            offsets = positions(states)
            problem = parts.commit_now(offsets)
            if problem:
                parts.report_uncommitted(offsets, "before the partitions went", problem)
        parts.drop(states)
        self._unpause(partitions)
        gone = set(map(id, states))
        with parts.lock:
            self._link.drop(lambda m: id(m._opaque) in gone)
