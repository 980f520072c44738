"""The Kafka consumer: a group member whose committed position follows the acks.

How it works (see the package docstring for the contract):

- iteration pulls batches with ``consume(N, 0)``; only when nothing is ready it runs the
  idle hooks and blocks on ``consume(1, ≤0.2 s)``, which returns at the first message, so
  a lone message is handed out at once and signals and ``close`` are seen promptly;
- every message handed out is recorded in its partition's state; an ack moves that
  partition's position over the acknowledged prefix only (:mod:`.assignment`), and the
  position is given to librdkafka (``store_offsets``) once per batch and by a background
  ticker; librdkafka commits stored positions every ``commit_interval`` (auto-commit
  with ``enable.auto.offset.store=false``);
- on revoke: flush the producers pending acks wait on, store, commit synchronously, then
  let the partitions go; on close the same, bounded by the shutdown timeout;
- rebalance and error callbacks catch everything: nothing ever escapes into librdkafka.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

from confluent_kafka import OFFSET_INVALID, Consumer, KafkaError, KafkaException, TopicPartition

from streamprocessor.clients.barrier import BARRIER
from streamprocessor.clients.base import ConsumerBase, run_idle_hooks
from streamprocessor.clients.kafka.assignment import QUERY_TIMEOUT, Assignment, fmt, positions
from streamprocessor.clients.kafka.errors import Severity, classify, describe
from streamprocessor.clients.kafka.lifecycle import (
    ConsumeGate,
    HandleGuard,
    StartupErrors,
    run_bounded,
    wait_for_cluster,
)
from streamprocessor.clients.kafka.message import KafkaMessage
from streamprocessor.clients.kafka.offsets import PartitionState
from streamprocessor.clients.kafka.properties import (
    config_error,
    connect_timeout,
    consumer_properties,
    env_prefix,
    redacted,
)
from streamprocessor.stream.errors import ClientError
from streamprocessor.stream.message import Message

__all__ = ["KafkaConsumer"]

_BATCH = 1000
_SLICE = 0.2  # seconds: the longest a blocking consume waits before flags are checked
_OFFSET_TAIL_BASE = -2000  # librdkafka's logical "n before the end" offsets
_new = KafkaMessage.__new__


class KafkaConsumer(ConsumerBase):
    """Consumer of one or more Kafka topics in a consumer group."""

    client_type = "kafka"

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        k = config.kafka
        props = consumer_properties(config)
        self._topics: list[str] = list(k.topics)
        self._offset_default: int | None = k.offset_default
        self._ignore = frozenset(int(c) for c in k.ignore_errors)
        self._incremental = (
            "cooperative" in str(props.get("partition.assignment.strategy", ""))
            or str(props.get("group.protocol", "")).lower() == "consumer"
        )
        #: closing, closed or failed: ``ack`` takes the slow path and says why
        self._unusable = False
        self._guard = HandleGuard()
        self._gate = ConsumeGate()  # turns on the handle: iteration vs other threads
        self._handle_closing = False
        self._startup: StartupErrors | None = StartupErrors(self._ignore)
        self._log.info(
            "Finished parsing Kafka client configurations.",
            extra={"client": "kafka", "config": redacted(props)},
        )
        conf = dict(props)
        conf["error_cb"] = self._on_error
        conf["stats_cb"] = self._on_stats
        conf["logger"] = self._log
        try:
            self._c = Consumer(conf)
        except KafkaException as exc:
            raise config_error(exc, config, "consumer") from exc
        self._parts = Assignment(self, self._c, self._log)
        try:
            wait_for_cluster(
                lambda t: self._c.list_topics(None, t),
                lambda: self._c.poll(0),
                self._startup,
                connect_timeout(config),
                props["bootstrap.servers"],
                f"{env_prefix(config, 'consumer')}_KAFKA_BROKERS",
            )
            self._startup = None
            self._c.subscribe(
                self._topics,
                on_assign=self._on_assign,
                on_revoke=self._on_revoke,
                on_lost=self._on_lost,
            )
        except BaseException:
            run_bounded(self._c.close, 2.0, "streamprocessor-kafka-close")
            raise
        interval = min(max(k.commit_interval.total_seconds() / 2, 0.05), 0.5)
        self._tick_stop = threading.Event()
        self._ticker = threading.Thread(
            target=self._tick, args=(interval,), name="streamprocessor-kafka-offsets", daemon=True
        )
        self._ticker.start()
        self._register_interrupts()

    # -- iteration ----------------------------------------------------------------------

    def _fill(self) -> bool:
        guard = self._guard
        if not guard.enter():
            return True
        try:
            c = self._c
            gate = self._gate
            with gate.iterate():
                self._sync()
                msgs = c.consume(_BATCH, 0)
            if not msgs:
                run_idle_hooks()
                if self._stopping or self._closing:
                    return True
                with gate.iterate():
                    msgs = c.consume(1, _SLICE)
            if msgs and self._failure is None:
                self._take(msgs)
        except RuntimeError:  # the handle was closed under us: iteration ends
            return True
        except KafkaException as exc:
            self._consume_error(exc.args[0] if exc.args else None, None)
        finally:
            guard.exit()
        return True

    def _take(self, msgs: list[Any]) -> None:
        append = self._buffer.append
        parts = self._parts
        states = parts.states
        state: PartitionState | None = None
        deliver: Any = None
        last_topic: str | None = None
        last_part = -1
        with parts.lock:
            for m in msgs:
                if m.error() is not None:
                    self._consume_error(m.error(), m)
                    if self._failure is not None:
                        return
                    continue
                topic = m.topic()
                part = m.partition()
                if part != last_part or topic != last_topic:
                    state = states.get((topic, part))
                    deliver = state.delivered.append if state is not None else None
                    last_topic, last_part = topic, part
                if deliver is None:  # fetched before a revoke: not ours any more
                    continue
                off = m.offset()
                deliver(off)
                km = _new(KafkaMessage)
                km.value = m.value()
                km.key = m.key()
                km.consumer_topic = topic
                km.producer_topic = ""
                km.offset = off
                km._opaque = state
                km._record = m
                append(km)

    # -- acks ---------------------------------------------------------------------------

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
        if BARRIER._trackers or self._pending._q:
            marks = BARRIER.marks()
            if marks or self._pending._q:
                self._pending.add(marks, (state, off))
                self._drain_pending()
                return
        # the common case in one piece: in order, nothing to wait for
        lock = self._parts.lock
        lock.acquire()  # (acquire/release: half the cost of a with statement here)
        try:
            d = state.delivered
            if d and d[0] == off and not state.acked and not state.revoked:
                d.popleft()
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

    # -- positions ----------------------------------------------------------------------

    def _sync(self) -> None:
        """Commit ready barrier acks and hand new positions to librdkafka."""
        if self._pending:
            self._drain_pending()
        self._parts.store()

    def _tick(self, interval: float) -> None:
        while not self._tick_stop.wait(interval):
            if not (self._pending or self._parts.moved()):
                continue
            if not self._guard.enter():
                return
            try:
                # while the application iterates, the iterating thread stores by itself
                if self._gate.try_other():
                    try:
                        self._sync()
                    finally:
                        self._gate.release()
            except Exception as exc:  # keep ticking
                self._log.error("Unable to store acknowledged offsets: %s", exc)
            finally:
                self._guard.exit()

    # -- rebalances (callbacks from librdkafka: they never raise) ------------------------

    def _on_assign(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        try:
            self._parts.assign(partitions)
            self._log.info(
                "Received event from Kafka.",
                extra={"event": "AssignedPartitions", "partitions": fmt(partitions)},
            )
            if self._offset_default is not None and partitions:
                self._apply_offset_default(consumer, partitions)
        except BaseException as exc:  # never into librdkafka
            self._fail(ClientError(f"failed to assign partitions {fmt(partitions)}: {exc}"))

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
            self._fail(
                ClientError(
                    f"unable to retrieve committed offsets of {fmt(partitions)} to apply "
                    f"the default offset: {exc}"
                )
            )
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
            self._flush_barrier(self._shutdown_timeout)
            parts.store(states)
            offsets = positions(states)
            problem = parts.commit_now(offsets)
            if problem:
                parts.report_uncommitted(offsets, "before the partitions went", problem)
        parts.drop(states)
        gone = set(map(id, states))
        with parts.lock:
            self._purge(lambda m: id(m._opaque) in gone)

    # -- errors and statistics (callbacks: never raise) ---------------------------------

    def _on_error(self, err: Any) -> None:
        try:
            if self._startup is not None:
                self._startup(err)
                return
            self._consume_error(err, None)
        except BaseException:  # never into librdkafka
            pass

    def _consume_error(self, err: Any, msg: Any) -> None:
        if err is None:
            return
        severity = classify(err, self._ignore)
        where = f" ({msg.topic()}[{msg.partition()}])" if msg is not None and msg.topic() else ""
        if severity is Severity.FATAL:
            self._fail(ClientError(f"received error from Kafka{where}: {describe(err)}"))
        elif severity is Severity.IGNORED:
            self._log.warning(
                "Received transient error from Kafka. Ignoring.",
                extra={"error": f"{describe(err)}{where}"},
            )
        else:
            self._log.warning("Kafka reported: %s%s", describe(err), where)

    def _on_stats(self, stats: str) -> None:
        with contextlib.suppress(BaseException):  # never into librdkafka
            self._log.info("Received Kafka statistics.", extra={"statistics": stats})

    def _on_failure(self) -> None:
        self._unusable = True
        self._buffer.clear()

    # -- backlog ------------------------------------------------------------------------

    def backlog(self) -> int:
        """Return Σ over assigned partitions of (high watermark - acknowledged position).

        Where nothing was acknowledged yet the committed offset counts (or, failing that,
        the first message handed out, or the low watermark). 0 before assignment.
        """
        self._check_open("read the backlog")
        if not self._guard.enter():
            self._check_open("read the backlog")
            return 0
        try:
            with self._gate.other():
                return self._parts.backlog()
        except KafkaException as exc:
            raise ClientError(f"unable to compute the backlog: {exc}") from exc
        finally:
            self._guard.exit()

    # -- close --------------------------------------------------------------------------

    def _close_impl(self) -> None:
        self._unusable = True
        timeout = self._shutdown_timeout
        deadline = time.monotonic() + timeout
        self._tick_stop.set()
        self._buffer.clear()
        if not self._guard.shut(timeout):
            self._log.error("Kafka consumer calls still running after %gs; closing anyway", timeout)
        parts = self._parts
        offsets: list[TopicPartition] = []
        try:
            self._flush_barrier(max(deadline - time.monotonic(), 0.0))
            parts.store()
            offsets = positions(parts.current())
        finally:
            self._handle_closing = True
            outcome: dict[str, str] = {}

            def finish() -> None:
                # one thread, in order: the handle is never used by two at once
                outcome["commit"] = parts.commit_now(offsets)
                self._c.close()

            done, _, exc = run_bounded(
                finish, max(deadline - time.monotonic(), 0.5), "streamprocessor-kafka-close"
            )
            if outcome.get("commit"):
                parts.report_uncommitted(offsets, "on close", outcome["commit"])
            if not done:
                if "commit" not in outcome:
                    parts.report_uncommitted(offsets, "on close", f"no answer within {timeout:g}s")
                self._log.error(
                    "The Kafka consumer did not close within %gs (broker unreachable?); "
                    "it is left to time out in the background",
                    timeout,
                )
            elif exc is not None:
                self._log.error("Closing the Kafka consumer failed: %s", exc)
            parts.drop_all()

    def _describe_unfinished(self) -> str:
        base = super()._describe_unfinished()
        n = sum(1 for s in self._parts.current() if s.delivered)
        more = f"{n} partition(s) with unacknowledged messages" if n else ""
        return "; ".join(x for x in (base, more) if x)


def _foreign() -> ClientError:
    return ClientError(
        "cannot acknowledge a message this Kafka consumer did not hand out "
        "(ack/nack the message object you got from iterating the consumer)"
    )
