"""Acks and nacks of the Kafka consumer.

``ack`` is the per-message path, so it does the least it can: it checks the message is
this consumer's and appends one entry to its partition's ``acks`` list — the offset, with
the ack barrier's mark of this moment when a producer has undelivered sends (see
:mod:`.waiting`). The entries are taken in bulk (:meth:`AckMixin._settle`) once per
fetched batch, by the offset ticker while the application does not iterate, and before
``backlog()``, ``nack``, a revoke and close: those whose sends are delivered move the
partition's position (in one step when they are its oldest outstanding offsets, in
order), the others wait in :class:`~.waiting.WaitingAcks`.

``nack`` settles the acks made before it, then forgets the message and the later ones of
its partition (also those buffered here) and seeks the partition back to it.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from streamprocessor.clients.barrier import BARRIER
from streamprocessor.clients.base import ConsumerBase
from streamprocessor.clients.kafka.assignment import Assignment
from streamprocessor.clients.kafka.errors import describe
from streamprocessor.clients.kafka.lifecycle import ConsumeGate, HandleGuard
from streamprocessor.clients.kafka.offsets import PartitionState
from streamprocessor.clients.kafka.waiting import WaitingAcks
from streamprocessor.stream.errors import ClientError
from streamprocessor.stream.message import Message

__all__ = ["AckMixin"]


class AckMixin(ConsumerBase):
    """``ack``/``nack`` of :class:`KafkaConsumer` and the barrier queues they feed."""

    _parts: Assignment
    _unusable: bool
    _waiting: WaitingAcks
    _settle_lock: threading.Lock
    _guard: HandleGuard
    _gate: ConsumeGate
    _c: Any

    def ack(self, msg: Message) -> None:
        """Acknowledge ``msg``: its partition's position moves over the acknowledged prefix.

        The position is committed once every message sent before this call (on any
        open producer) is delivered. Raises ClientClosedError on a closed consumer and
        ClientError for a message this consumer did not hand out.
        """
        if self._unusable:
            self._check_open("ack")
        try:
            state: PartitionState = msg._opaque
            off = msg.offset
            acks = state.acks if state.owner is self else None  # only this consumer's
        except AttributeError:
            acks = None
        if acks is None or off is None:
            raise _foreign()
        if state.revoked:
            _ignored(self._log, state, off)
            return
        # (private reads of the barrier: this is the per-message path)
        trackers = BARRIER._trackers
        if trackers:
            if len(trackers) == 1:
                tracker = trackers[0]  # one producer: its last send number is the mark
                acks.append((off, tracker, tracker.sent))
                return
            marks = BARRIER.marks()
            if marks:
                acks.append((off, marks))
                return
        acks.append(off)

    def _token(self, msg: Message) -> tuple[PartitionState, int]:
        state = getattr(msg, "_opaque", None)
        off = getattr(msg, "offset", None)
        if type(state) is not PartitionState or state.owner is not self or off is None:
            raise _foreign()
        return state, off

    def _commit(self, tokens: list[Any]) -> None:
        self._parts.ack(tokens)

    def _settle(self) -> None:
        """Take the new acks; apply those (and earlier waiting ones) whose sends are done."""
        with self._settle_lock:
            windows = self._parts.take_acks()
            if windows or self._waiting.q:
                ready = self._waiting.release(windows)
                if ready:
                    self._parts.ack_groups(ready)

    def _drain_pending(self) -> None:
        self._settle()

    def _flush_barrier(self, timeout: float | None) -> None:
        """Flush the producers waiting acks wait on, then apply what became ready."""
        self._settle()
        self._flush_trackers(self._waiting.trackers(), timeout)
        self._settle()
        self._report_dropped(self._waiting.drop_all())

    def _nack(self, msg: Message) -> None:
        state, off = self._token(msg)
        self._settle()  # the acks made before this nack count first
        with self._parts.lock:
            if state.revoked:
                self._log.warning(
                    "Ignoring the nack of %s[%d] offset %d: the partition was revoked",
                    state.topic,
                    state.partition,
                    off,
                )
                return
            state.truncate(off)
            self._purge(lambda m: m._opaque is state and m.offset >= off)
        self._seek(state, off)

    def _purge(self, stale: Any) -> None:
        """Drop buffered messages for which ``stale(message)`` is true."""
        buf = self._buffer
        keep = [m for m in buf if not stale(m)]
        if len(keep) != len(buf):
            buf.clear()
            buf.extend(keep)

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
                    err = exc.args[0] if exc.args else None
                    # right after an assignment the fetcher may not be ready yet
                    if not isinstance(err, KafkaError) or err.code() != KafkaError._STATE:
                        raise ClientError(
                            f"unable to nack {state.topic}[{state.partition}] offset {off}: "
                            f"seek failed: {describe(err) if err is not None else exc}"
                        ) from exc
                    if attempt == 39:
                        raise ClientError(
                            f"unable to nack {state.topic}[{state.partition}] offset {off}: "
                            f"the partition is not being fetched ({describe(err)})"
                        ) from exc
                    time.sleep(0.05)
        finally:
            self._guard.exit()


def _ignored(log: Any, state: PartitionState, off: int) -> None:
    log.warning(
        "Ignoring the acknowledgement of %s[%d] offset %d: the partition was "
        "revoked, its new owner consumes it again",
        state.topic,
        state.partition,
        off,
    )


def _foreign() -> ClientError:
    return ClientError(
        "cannot acknowledge a message this Kafka consumer did not hand out "
        "(ack/nack the message object you got from iterating the consumer)"
    )
