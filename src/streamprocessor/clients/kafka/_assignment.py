"""The partitions a consumer owns now, their acknowledged positions, and the backlog.

:class:`Assignment` keeps one :class:`PartitionState` per assigned partition (a new one
per assignment generation), collects the positions acks moved, hands them to
librdkafka's offset store, commits them synchronously when a partition goes or the
consumer closes, and counts the backlog. Everything is guarded by one lock, because
acks, the offset ticker and rebalance callbacks run on different threads.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from streamprocessor.clients.kafka._errors import describe, error_text, kafka_error
from streamprocessor.clients.kafka._offsets import PartitionState
from streamprocessor.clients.kafka.message import message_type
from streamprocessor.util.throttle import THROTTLE

__all__ = ["QUERY_TIMEOUT", "Assignment", "fmt", "ignore_revoked"]

QUERY_TIMEOUT = 5.0  # seconds for committed-offset and watermark queries (the original's)


#: longer partition lists are summarised per topic in logs and errors
_LIST_AT_MOST = 10


def fmt(partitions: Iterable[TopicPartition]) -> str:
    """Return ``topic[partition]@offset, …`` for logs and errors.

    More than ten partitions read ``1000 partitions of 'orders' (0-999)``: a group with
    many partitions would otherwise log kilobytes per rebalance.
    """
    tps = list(partitions)
    if len(tps) <= _LIST_AT_MOST:
        return ", ".join(
            f"{tp.topic}[{tp.partition}]" + (f"@{tp.offset}" if tp.offset >= 0 else "")
            for tp in tps
        )
    by_topic: dict[str, list[int]] = {}
    for tp in tps:
        by_topic.setdefault(tp.topic, []).append(tp.partition)
    return "; ".join(
        f"{len(ps)} partition{'s' if len(ps) > 1 else ''} of {topic!r} ({_ranges(ps)})"
        for topic, ps in by_topic.items()
    )


def _ranges(numbers: list[int]) -> str:
    """``0-3, 7, 9-12`` for the sorted distinct ``numbers``."""
    runs: list[list[int]] = []
    for n in sorted(set(numbers)):
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs)


def ignore_revoked(log: logging.Logger, state: PartitionState, offsets: list[int]) -> None:
    """Log acknowledgements that came for a revoked partition (throttled).

    One WARNING per consumer every 10 s: a lost session revokes every partition, and each
    batch in flight acknowledges.
    """
    THROTTLE.warning(
        log,
        ("revoked-acks", id(state.owner)),
        "Ignoring %d acknowledgement(s) of %s[%d] (offsets %d to %d): the partition was "
        "revoked, its new owner consumes them again",
        len(offsets),
        state.topic,
        state.partition,
        min(offsets),
        max(offsets),
    )


class Assignment:
    """Partition states of one consumer; ``handle`` is its librdkafka consumer."""

    def __init__(self, owner: object, handle: Any, log: logging.Logger) -> None:
        self.owner = owner
        self.handle = handle
        self.log = log
        self.lock = threading.Lock()  # never held while calling out, so never nested
        self.states: dict[tuple[str, int], PartitionState] = {}

    # -- membership ---------------------------------------------------------------------

    def assign(self, partitions: Iterable[TopicPartition]) -> None:
        """Start a new generation for ``partitions``."""
        with self.lock:
            for tp in partitions:
                key = (tp.topic, tp.partition)
                old = self.states.get(key)
                if old is not None:
                    old.revoked = True  # acks that come for it are logged and ignored
                    old.acks = None
                state = PartitionState(self.owner, tp.topic, tp.partition)
                state.msg_type = message_type(tp.topic, tp.partition)
                self.states[key] = state

    def owned(self, partitions: Iterable[TopicPartition]) -> list[PartitionState]:
        """Return the current states of ``partitions`` (those still assigned)."""
        keys = {(tp.topic, tp.partition) for tp in partitions}
        with self.lock:
            return [s for key, s in self.states.items() if key in keys]

    def current(self) -> list[PartitionState]:
        """Return the states of every assigned partition."""
        with self.lock:
            return list(self.states.values())

    def drop(self, states: Iterable[PartitionState]) -> None:
        """End the generation of ``states``: later acks for them are ignored."""
        with self.lock:
            for s in states:
                s.revoked = True  # acks that come for it are logged and ignored
                s.acks = None
                if self.states.get((s.topic, s.partition)) is s:
                    del self.states[(s.topic, s.partition)]

    def drop_all(self) -> None:
        """End every generation (the consumer is closed)."""
        self.drop(self.current())

    # -- positions ----------------------------------------------------------------------

    def ack(self, tokens: Iterable[tuple[PartitionState, int]]) -> None:
        """Apply acknowledgements (any order)."""
        with self.lock:
            for state, off in tokens:
                if state.revoked:
                    ignore_revoked(self.log, state, [off])
                else:
                    state.ack(off)

    def ack_groups(self, groups: Iterable[tuple[PartitionState, list[int]]]) -> None:
        """Apply groups of acknowledgements: ``(state, offsets)``, offsets in ack order."""
        with self.lock:
            for state, offsets in groups:
                if state.revoked:
                    ignore_revoked(self.log, state, offsets)
                else:
                    state.ack_all(offsets)

    def moved(self) -> bool:
        """Tell whether some position moved since it was last stored."""
        return any(s.position != s.stored for s in tuple(self.states.values()))

    def store(self, only: Iterable[PartitionState] | None = None) -> None:
        """Hand the moved positions to librdkafka (committed by auto-commit)."""
        with self.lock:
            chosen = list(self.states.values()) if only is None else list(only)
            moved = [s for s in chosen if not s.revoked and s.position != s.stored]
            offsets = positions(moved)
            if not offsets:
                return
            for s in moved:
                s.stored = s.position
            try:
                self.handle.store_offsets(offsets=offsets)
            except KafkaException as exc:
                err = kafka_error(exc)
                if err is not None and err.code() == KafkaError._STATE:
                    self.log.debug("Offsets of unassigned partitions not stored: %s", err)
                else:
                    THROTTLE.error(self.log, ("store-offsets", id(self.owner)),
                                   "Unable to store offsets %s: %s", fmt(offsets),
                                   error_text(exc))

    def commit_now(self, offsets: list[TopicPartition]) -> str:
        """Commit ``offsets`` synchronously; return "" or what went wrong."""
        if not offsets:
            return ""
        try:
            result = self.handle.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            err = kafka_error(exc)
            if err is not None and err.code() == KafkaError._NO_OFFSET:
                return ""
            return error_text(exc)
        failed = [tp for tp in result or () if tp.error is not None]
        return "; ".join(f"{tp.topic}[{tp.partition}]: {describe(tp.error)}" for tp in failed)

    def report_uncommitted(self, offsets: list[TopicPartition], why: str, reason: str) -> None:
        """Log what could not be committed and what that means."""
        self.log.error(
            "Unable to commit offsets %s %s (%s): the messages from there on will be "
            "consumed again",
            fmt(offsets),
            why,
            reason,
        )

    # -- backlog ------------------------------------------------------------------------

    def backlog(self) -> int:
        """Return Σ over assigned partitions of (high watermark - acknowledged position).

        Where nothing was acknowledged yet the committed offset counts (failing that, the
        first message handed out, or the low watermark). High watermarks come from the
        last fetch response; only partitions not fetched yet are asked for.
        """
        with self.lock:
            states = [s for s in self.states.values() if not s.revoked]
            known = {(s.topic, s.partition): (s.position, s.first_unacked) for s in states}
        if not states:
            return 0
        c = self.handle
        unknown = [TopicPartition(s.topic, s.partition) for s in states if s.position is None]
        committed: dict[tuple[str, int], int] = {}
        if unknown:
            for tp in c.committed(unknown, QUERY_TIMEOUT):
                if tp.offset >= 0:
                    committed[(tp.topic, tp.partition)] = tp.offset
        marks: dict[tuple[str, int], tuple[int, int]] = {}
        missing = []
        for s in states:
            tp = TopicPartition(s.topic, s.partition)
            low, high = c.get_watermark_offsets(tp, QUERY_TIMEOUT, True)
            if high < 0:
                missing.append(tp)
            else:
                marks[(s.topic, s.partition)] = (low, high)
        for tp in missing:
            marks[(tp.topic, tp.partition)] = c.get_watermark_offsets(tp, QUERY_TIMEOUT)
        total = 0
        for key, (position, first) in known.items():
            low, high = marks[key]
            pos = position
            if pos is None:
                pos = committed.get(key)
            if pos is None:
                pos = first
            if pos is None or pos < low:
                pos = max(low, 0)
            total += max(high - pos, 0)
        return total


def positions(states: Iterable[PartitionState]) -> list[TopicPartition]:
    """Return the acknowledged positions of ``states`` (those with one) as offsets."""
    return [
        TopicPartition(s.topic, s.partition, s.position) for s in states if s.position is not None
    ]
