"""Acks and nacks of the Kafka consumer.

``ack`` is the per-message path, so it does the least it can: it checks the message is
this consumer's and appends its offset to its partition's ``acks`` list (the runner
acknowledges a whole fetched batch at once with ``_ack_batch``). The lists are taken in
bulk (:meth:`AckMixin._settle`) — once per fetched batch, by the offset ticker while the
application does not iterate, and before ``backlog()``, ``nack``, a revoke and close — as
one *window* that takes the ack barrier's marks of that moment (every send made before
any of its acks was made before the window was taken, so waiting for the marks of the
window is waiting for at least those sends; a send made after an ack but before its
window was taken is waited for too). A window whose marks are reached moves its
partitions' positions (in one step when its offsets are the oldest outstanding ones, in
order); the others wait, in order, in the consumer's
:class:`~streamprocessor.clients.barrier.PendingAcks`.

``nack`` settles the acks made before it, then forgets the message and the later ones of
its partition (also those buffered here) and seeks the partition back to it.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from operator import attrgetter
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from streamprocessor.clients.barrier import BARRIER
from streamprocessor.clients.base import ConsumerBase
from streamprocessor.clients.kafka.assignment import Assignment, ignore_revoked
from streamprocessor.clients.kafka.errors import describe
from streamprocessor.clients.kafka.lifecycle import ConsumeGate, HandleGuard
from streamprocessor.clients.kafka.offsets import PartitionState
from streamprocessor.stream.errors import ClientError
from streamprocessor.stream.message import Message
from streamprocessor.util.throttle import THROTTLE

__all__ = ["AckMixin"]

_OPAQUE = attrgetter("_opaque")
_OFFSET = attrgetter("offset")


class AckMixin(ConsumerBase):
    """``ack``/``nack`` of :class:`KafkaConsumer` and the barrier queues they feed."""

    _parts: Assignment
    _unusable: bool
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
            state = msg._opaque
            if state.owner is self:
                # (acks is None once the partition is revoked; an offset a handler
                # overwrote with a non-int is skipped when the acks are applied)
                state.acks.append(msg.offset)
                return
        except AttributeError:
            pass
        self._refused(msg)

    def _ack_batch(self, msgs: list[Message], k: int) -> None:
        """Acknowledge the first ``k`` of ``msgs`` (from ``_batches``) in one step."""
        if self._unusable:
            self._check_open("ack")
        done = msgs if k == len(msgs) else msgs[:k]
        if not done:
            return
        try:
            states = list(map(_OPAQUE, done))
            offsets = list(map(_OFFSET, done))
        except AttributeError:
            states = offsets = []
        groups: list[tuple[Any, list[int]]]
        if states and states.count(states[0]) == len(states):  # one partition: usual
            groups = [(states[0], offsets)]
        else:
            by: defaultdict[Any, list[int]] = defaultdict(list)
            for state, off in zip(states, offsets, strict=True):
                by[state].append(off)
            groups = list(by.items())
        lists = [
            state.acks if type(state) is PartitionState and state.owner is self else None
            for state, _ in groups
        ]
        if not states or None in lists:  # not all ours, or revoked: one by one, as ack()
            for msg in done:
                self.ack(msg)
            return
        for acks, (_, offs) in zip(lists, groups, strict=True):
            acks.extend(offs)  # type: ignore[union-attr]  # (checked above)

    def _refused(self, msg: Message) -> None:
        """An ack ``ack`` could not take: for a revoked partition (logged) or foreign."""
        state, off = self._token(msg)
        if state.revoked:
            ignore_revoked(self._log, state, [off])
            return
        raise _foreign()  # pragma: no cover - _token raised already

    def _token(self, msg: Message) -> tuple[PartitionState, int]:
        state = getattr(msg, "_opaque", None)
        off = getattr(msg, "offset", None)
        if (
            type(state) is not PartitionState
            or state.owner is not self
            or off.__class__ is not int
        ):
            raise _foreign()
        return state, off

    def _commit(self, tokens: list[Any]) -> None:
        self._parts.ack(tokens)

    def _settle(self) -> None:
        """Take the new acks as one window; apply the windows whose sends are done."""
        pending = self._pending
        with self._settle_lock:
            windows = self._parts.take_acks()
            if windows:
                marks = BARRIER.marks()  # taken after the acks: covers their sends
                if not marks and not pending:
                    self._parts.ack_groups(windows)
                    return
                pending.add(marks, windows)
            if pending:
                dead = pending.drain(self._ack_windows)
                if dead:
                    self._report_unreachable(sum(len(o) for window in dead for _, o in window))

    def _ack_windows(self, windows: list[Any]) -> None:
        for groups in windows:
            self._parts.ack_groups(groups)

    def _drain_pending(self) -> None:
        self._settle()

    def _flush_barrier(self, timeout: float | None) -> None:
        """Flush the producers waiting acks wait on, then apply what became ready."""
        self._settle()
        self._flush_trackers(self._pending.trackers(), timeout)
        self._settle()
        dropped = self._pending.drop_all()
        self._report_dropped(sum(len(offs) for window in dropped for _, offs in window))

    def _nack(self, msg: Message) -> None:
        state, off = self._token(msg)
        self._settle()  # the acks made before this nack count first
        with self._parts.lock:
            if state.revoked:
                THROTTLE.warning(
                    self._log,
                    ("revoked-nacks", id(self)),
                    "Ignoring the nack of %s[%d] offset %d: the partition was revoked",
                    state.topic,
                    state.partition,
                    off,
                )
                return
            state.truncate(off)
            self._purge(lambda m: m._opaque is state and m.offset >= off)
        self._seek(state, off)

    def _rewind(self) -> tuple[Any, int]:
        """Hand out again everything handed out and not committed yet, from the first.

        For a caller that must handle those messages again (the runner, after a send
        the broker refused): the acks waiting for the barrier are dropped, every
        partition forgets its outstanding messages (also those buffered here) and seeks
        back to the first. Returns ``(again, n)``: ``again(msg)`` says whether ``msg`` is
        one of the ``n`` messages that come again (call it only on this consumer's).
        """
        self._settle()  # (what is committable counts first)
        self._pending.drop_all()
        ranges: dict[PartitionState, tuple[int, int]] = {}
        with self._parts.lock:
            for state in self._parts.states.values():
                if state.runs and not state.revoked:
                    ranges[state] = (state.runs[0][0], state.runs[-1][1])
            n = sum(state.outstanding for state in ranges)
            for state, (first, _) in ranges.items():
                state.truncate(first)
            self._purge(lambda m: m._opaque in ranges)
        for state, (first, _) in ranges.items():
            self._seek(state, first)

        def again(msg: Message) -> bool:
            r = ranges.get(msg._opaque)
            return r is not None and r[0] <= msg.offset < r[1]  # type: ignore[operator]

        return again, n

    def _purge(self, stale: Any) -> None:
        """Drop buffered messages for which ``stale(message)`` is true."""
        self._unhand()
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
