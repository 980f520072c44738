"""Acks and nacks of the Kafka consumer.

``ack`` is the per-message path, so it is written out in full:

- nothing to wait for (no producer has undelivered sends) and the message is the oldest
  outstanding one of its partition: the position moves on at once, under one lock;
- one producer open with undelivered sends (the usual processor): the ack waits in
  :class:`~.waiting.WaitingAcks` until that producer confirmed its last send;
- otherwise the foundation's general barrier (``PendingAcks``) takes it.

Out-of-order acks go through :meth:`Assignment.ack`, which moves the position only over
the acknowledged prefix. ``nack`` forgets the message and the later ones of its
partition (also those buffered here) and seeks the partition back to it.
"""

from __future__ import annotations

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
from streamprocessor.stream.errors import ClientError, StreamProcessorError
from streamprocessor.stream.message import Message

__all__ = ["AckMixin"]


class AckMixin(ConsumerBase):
    """``ack``/``nack`` of :class:`KafkaConsumer` and the barrier queues they feed."""

    _parts: Assignment
    _unusable: bool
    _waiting: WaitingAcks
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
            mine = state.owner is self  # only this consumer's PartitionStates qualify
        except AttributeError:
            mine = False
        if not mine or off is None:
            raise _foreign()
        # (private reads of the barrier: this is the per-message path)
        trackers = BARRIER._trackers
        if trackers or self._pending._q:
            if len(trackers) == 1 and not self._pending._q:
                tracker = trackers[0]  # one producer: its last send number is the mark
                seq = tracker.sent
                if seq > tracker.confirmed:
                    self._waiting.q.append((tracker, seq, (state, off)))
                    return
            else:
                marks = BARRIER.marks()
                if marks or self._pending._q:
                    self._pending.add(marks, (state, off))
                    self._drain_pending()
                    return
        # the common case in one piece: in order, nothing to wait for
        lock = self._parts.lock
        lock.acquire()  # (acquire/release: half the cost of a with statement here)
        try:
            runs = state.runs
            if runs and not state.acked and not state.revoked:
                head = runs[0]
                if head[0] == off:
                    head[0] = off + 1
                    if head[1] == off + 1:
                        runs.popleft()
                    state.position = off + 1
                    return
        finally:
            lock.release()
        self._parts.ack(((state, off),))

    def _token(self, msg: Message) -> tuple[PartitionState, int]:
        state = getattr(msg, "_opaque", None)
        off = getattr(msg, "offset", None)
        if type(state) is not PartitionState or state.owner is not self or off is None:
            raise _foreign()
        return state, off

    def _commit(self, tokens: list[Any]) -> None:
        self._parts.ack(tokens)

    def _drain_pending(self) -> None:
        ready = self._waiting.ready()
        if ready:
            self._parts.ack(ready)
        super()._drain_pending()

    def _flush_barrier(self, timeout: float | None) -> None:
        for tracker in self._waiting.trackers():
            try:
                tracker.flush(timeout)
            except StreamProcessorError as exc:
                self._log.error(
                    "Could not flush producer %s before committing acknowledgements: %s",
                    tracker.name,
                    exc,
                )
        super()._flush_barrier(timeout)  # drains both queues, drops the general one's rest
        left = self._waiting.drop_all()
        if left:
            self._log.error(
                "%d acknowledgement(s) not committed: the messages sent before them were "
                "not delivered; they will be consumed again",
                len(left),
            )

    def _nack(self, msg: Message) -> None:
        state, off = self._token(msg)
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


def _foreign() -> ClientError:
    return ClientError(
        "cannot acknowledge a message this Kafka consumer did not hand out "
        "(ack/nack the message object you got from iterating the consumer)"
    )
