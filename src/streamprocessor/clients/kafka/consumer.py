"""The Kafka source and consumer: a group member whose committed position follows the acks.

How it works (see the package docstring for the contract):

- a fetch is ``consume(N, 0)`` (N: :func:`batch_size`); when nothing is ready the front
  runs the idle hooks and fetches again with ``consume(1, ≤0.2 s)``, which returns at the
  first message, so a lone message is handed out at once and signals and ``close`` are
  seen promptly;
- every message handed out is recorded in its partition's state; the front hands the
  acknowledged ones to :meth:`KafkaSource.commit` in bulk (:mod:`.acks`), moving the
  partition's position over the acknowledged prefix only, and the position is given to
  librdkafka (``store_offsets``) at each fetch and by a background ticker; librdkafka
  commits stored positions every ``commit_interval`` (auto-commit with
  ``enable.auto.offset.store=false``);
- on revoke: flush the producers pending acks wait on, store, commit synchronously, then
  let the partitions go; on close the same, bounded by the shutdown timeout;
- rebalance and error callbacks catch everything: nothing ever escapes into librdkafka.
"""

from __future__ import annotations

import contextlib
import gc
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka import Message as _Record

from streamprocessor.clients.front import ConsumerFront
from streamprocessor.clients.kafka._acks import AckMixin
from streamprocessor.clients.kafka._assignment import Assignment, fmt, positions
from streamprocessor.clients.kafka._errors import (
    Severity,
    classify,
    describe,
    error_text,
    kafka_error,
    log_transient,
    translated,
)
from streamprocessor.clients.kafka._lifecycle import (
    ConsumeGate,
    HandleGuard,
    StartupErrors,
    client_conf,
    run_bounded,
    wait_for_cluster,
)
from streamprocessor.clients.kafka._offsets import PartitionState
from streamprocessor.clients.kafka._properties import (
    config_error,
    connect_timeout,
    consumer_properties,
    redacted,
    variable,
)
from streamprocessor.clients.kafka._rebalance import RebalanceMixin
from streamprocessor.clients.ports import Commit, Nack, SourceLink
from streamprocessor.stream.errors import ClientError
from streamprocessor.stream.message import Message
from streamprocessor.util.throttle import THROTTLE

if TYPE_CHECKING:
    from streamprocessor.config.models import ConsumerConfig

__all__ = ["KafkaConsumer", "KafkaSource"]

_MAX_BATCH = 1000


def batch_size() -> int:
    """Return how many records one ``consume`` call asks for.

    A batch lives as records plus the messages built from them until it is handed out;
    when that is more objects than the garbage collector's first threshold (700 by
    default), a collection runs every batch and walks them all (~0.2 µs a message, more
    than building it). So the batch is ~3/7 of the threshold: 300 by default, 1000 when
    the collector is off or its threshold is high (the runner raises it while it runs,
    see ``RunnerSettings.gc_threshold``). Asked before every fetch.
    """
    threshold = gc.get_threshold()[0]
    if not gc.isenabled() or threshold <= 0:
        return _MAX_BATCH
    return max(50, min(_MAX_BATCH, threshold * 3 // 7))


# the record's accessors, for ``map`` over a batch (one C call per record, no bytecode)
_PARTITION: Any = _Record.partition
_ERROR: Any = _Record.error
_OFFSET: Any = _Record.offset

_SLICE = 0.2  # seconds: the longest a blocking consume waits before flags are checked
_PAUSED_SLICE = 0.01  # the same while some partitions are paused


class KafkaSource(RebalanceMixin, AckMixin):
    """One or more Kafka topics read in a consumer group (the port of :class:`KafkaConsumer`)."""

    nack = Nack.REWIND
    commits = Commit.PER_BATCH
    message_type: type[Message] | None = None  # (one class per partition)
    ack_key: Callable[[Message], Any] | None = None  # (the offset)

    def __init__(self, config: ConsumerConfig, link: SourceLink) -> None:
        self._link = link
        self._log = link.log
        self._config = config
        self._failed = False  # a fatal error: what is fetched is not handed out
        k = config.kafka
        props = consumer_properties(config)
        self._topics: list[str] = list(k.topics)
        #: the topic of every record when one topic (not a pattern) is subscribed
        self._single_topic: str | None = (
            self._topics[0]
            if len(self._topics) == 1 and not self._topics[0].startswith("^")
            else None
        )
        self._offset_default: int | None = k.offset_default
        self._ignore = frozenset(int(c) for c in k.ignore_errors)
        self._incremental = (
            "cooperative" in str(props.get("partition.assignment.strategy", ""))
            or str(props.get("group.protocol", "")).lower() == "consumer"
        )
        #: what close() is doing now (for the shutdown watchdog's message)
        self._close_step = ""
        self._guard = HandleGuard()
        #: partitions paused by :meth:`pause` (the runner's full lanes), and those a
        #: worker asked to resume (the iterating thread does it), under the lock
        self._paused: set[tuple[str, int]] = set()
        self._resuming: set[tuple[str, int]] = set()
        self._pause_lock = threading.Lock()
        self._gate = ConsumeGate()  # turns on the handle: iteration vs other threads
        self._handle_closing = False
        self._startup: StartupErrors | None = StartupErrors(self._ignore)
        conf = client_conf(props, self._log, self._on_error, self._on_stats, redacted, config)
        try:
            self._c = Consumer(conf)
        except KafkaException as exc:
            raise config_error(exc, config, "consumer") from exc
        self._parts = Assignment(link, self._c, self._log)
        try:
            wait_for_cluster(
                lambda t: self._c.list_topics(None, t),
                lambda: self._c.poll(0),
                self._startup,
                connect_timeout(config),
                props["bootstrap.servers"],
                variable(config, "KAFKA_BROKERS"),
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

    @property
    def shutdown_timeout(self) -> float:
        """Seconds a revoke or close may take to flush and commit."""
        return float(self._config.shutdown_timeout.total_seconds())

    # -- fetching -----------------------------------------------------------------------

    def fetch(self, wait: float) -> list[Message] | None:
        """What ``consume`` returns now (``wait`` 0: up to a batch; else the first one)."""
        guard = self._guard
        if not guard.enter():
            return []
        try:
            with self._gate.iterate():
                if self._resuming:
                    self._apply_resumes()
                self._parts.store()
                if wait:
                    # (while partitions are paused, a worker may ask to resume them soon)
                    msgs = self._c.consume(1, min(wait, _PAUSED_SLICE if self._paused else _SLICE))
                else:
                    msgs = self._c.consume(batch_size(), 0)
            if msgs and not self._failed:
                return self._take(msgs)
        except RuntimeError:  # the handle was closed under us: nothing more comes
            return []
        except KafkaException as exc:
            self._consume_error(kafka_error(exc), None)
        finally:
            guard.exit()
        return []

    def _take(self, msgs: list[Any]) -> list[Message]:
        out: list[Message] = []
        if self._single_topic is not None and self._take_run(msgs, out):
            return out
        append = out.append
        parts = self._parts
        states = parts.states
        single = self._single_topic  # (one topic subscribed: no topic() per record)
        state: PartitionState | None = None
        new: Any = None  # the message class of ``state``'s partition
        tail: list[int] = [-1, -1]  # the last run of delivered offsets of ``state``
        last_part = -1
        topic = single
        with parts.lock:
            for m in msgs:
                if m.error() is not None:
                    self._consume_error(m.error(), m)
                    if self._failed:
                        return []
                    continue
                part = m.partition()
                if single is None:
                    topic = m.topic()
                    if topic != (state.topic if state is not None else None):
                        last_part = -1
                if part != last_part:
                    state = states.get((topic, part))  # type: ignore[arg-type]
                    last_part = part
                    if state is not None:
                        new = state.msg_type
                        tail = state.runs[-1] if state.runs else [-1, -1]
                if state is None:  # fetched before a revoke: not ours any more
                    continue
                off = m.offset()
                # PartitionState.deliver, inlined: extend the last run or start one
                if tail[1] == off:
                    tail[1] = off + 1
                else:
                    tail = [off, off + 1]
                    state.runs.append(tail)
                km = new()
                km.value = m.value()
                km.key = m.key()
                km.offset = off
                km._record = m
                km._opaque = state
                append(km)
        return out

    def _take_run(self, msgs: list[Any], out: list[Message]) -> bool:
        """The usual batch, taken with less work per record: return whether it was one.

        One topic, one partition of ours, no error record, consecutive offsets: the batch
        extends the partition's delivered runs in one step. Anything else is left to the
        general loop of :meth:`_take` (nothing is changed then).
        """
        parts = list(map(_PARTITION, msgs))
        part = parts[0]
        if parts.count(part) != len(parts) or any(map(_ERROR, msgs)):
            return False
        offsets = list(map(_OFFSET, msgs))
        first = offsets[0]
        end = offsets[-1] + 1
        # (librdkafka hands out a partition's records in increasing offset order, so a span
        # as long as the batch means consecutive offsets)
        if end - first != len(offsets):  # gaps (compaction, transactions), or a seek
            return False
        with self._parts.lock:
            state = self._parts.states.get((self._single_topic, part))  # type: ignore[arg-type]
            if state is None:  # fetched before a revoke: the general loop skips them
                return False
            state.last_take = offsets
            runs = state.runs
            if runs and runs[-1][1] == first:
                runs[-1][1] = end
            else:
                runs.append([first, end])
            new: Any = state.msg_type
            append = out.append
            for m, off in zip(msgs, offsets, strict=True):  # (as in _take)
                km = new()
                km.value = m.value()
                km.key = m.key()
                km.offset = off
                km._record = m
                km._opaque = state
                append(km)
        return True

    # -- pausing (the runner's lanes) ---------------------------------------------------

    def pause(self, msgs: Sequence[Message]) -> list[object] | None:
        """Pause the partitions of ``msgs`` (see ``ConsumerFront.pause``).

        Called by the iterating thread. ``None`` (cannot) when no other assigned partition
        would still be fetched: pausing would only cost a fetch again. librdkafka drops
        what it prefetched for paused partitions and, on resume, fetches again from the
        record after the last one handed out, so nothing is skipped.
        """
        keys = set()
        for m in msgs:
            state = getattr(m, "_opaque", None)
            if type(state) is PartitionState and state.owner is self._link and not state.revoked:
                keys.add((state.topic, state.partition))
        with self._pause_lock:
            keys -= self._paused
            new = keys - self._resuming
            if new:
                with self._parts.lock:
                    assigned = set(self._parts.states)
                if not assigned - self._paused - keys:
                    return None  # (the rest is paused, or there is no rest)
                if not self._guard.enter():
                    return None
                parts = [TopicPartition(t, p) for t, p in sorted(new)]
                try:
                    self._c.pause(parts)
                except (KafkaException, RuntimeError) as exc:
                    self._log.warning("Could not pause %s: %s", fmt(parts), error_text(exc))
                    return None
                finally:
                    self._guard.exit()
                self._log.debug("Paused %s: their worker has enough to do", fmt(parts))
            self._resuming -= keys  # (asked to resume, not resumed yet: stays paused)
            self._paused |= keys
        return [*sorted(keys)]

    def resume(self, paused: Sequence[object]) -> None:
        """Resume what :meth:`pause` paused (any thread; done before the next fetch).

        Only the iterating thread gets into the consumer handle without waiting for its
        turn (see :class:`ConsumeGate`), so a worker only asks; while partitions are
        paused, the iterating thread waits for input in short slices.
        """
        with self._pause_lock:
            keys = self._paused.intersection(paused)
            self._paused -= keys
            self._resuming |= keys

    def _apply_resumes(self) -> None:
        """Resume what workers asked for (the iterating thread, holding the handle)."""
        with self._pause_lock:
            keys, self._resuming = self._resuming, set()
            if keys:
                self._resume_now(sorted(keys))

    def _unpause(self, partitions: list[TopicPartition]) -> None:
        """Resume ``partitions`` if we paused them (they come or go in a rebalance).

        librdkafka keeps an application's pause through a later assignment.
        """
        with self._pause_lock:
            keys = {(tp.topic, tp.partition) for tp in partitions}
            keys &= self._paused | self._resuming
            if keys:
                self._paused -= keys
                self._resuming -= keys
                self._resume_now(sorted(keys))

    def _resume_now(self, keys: list[tuple[str, int]]) -> None:
        if not self._guard.enter():
            return
        parts = [TopicPartition(t, p) for t, p in keys]
        try:
            self._c.resume(parts)
        except (KafkaException, RuntimeError) as exc:
            self._log.warning("Could not resume %s: %s", fmt(parts), error_text(exc))
        else:
            self._log.debug("Resumed %s", fmt(parts))
        finally:
            self._guard.exit()

    # -- positions ----------------------------------------------------------------------

    def _tick(self, interval: float) -> None:
        while not self._tick_stop.wait(interval):
            parts = self._parts
            self._link.settle()  # (cheap when nothing is acknowledged)
            if not parts.moved():
                continue
            if not self._guard.enter():
                return
            try:
                # while the application iterates, the iterating thread stores by itself
                if self._gate.try_other():
                    try:
                        parts.store()
                    finally:
                        self._gate.release()
            except Exception as exc:  # keep ticking
                THROTTLE.error(self._log, ("store-offsets", id(self)),
                               "Unable to store acknowledged offsets: %s", exc)
            finally:
                self._guard.exit()

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
            self._failed = True
            self._link.fail(ClientError(f"received error from Kafka{where}: {describe(err)}"))
        else:
            log_transient(self._log, "consumer", err, severity, where)

    def _on_stats(self, stats: str) -> None:
        with contextlib.suppress(BaseException):  # never into librdkafka
            self._log.info("Received Kafka statistics.", extra={"statistics": stats})

    # -- backlog ------------------------------------------------------------------------

    def backlog(self) -> int:
        """Return Σ over assigned partitions of (high watermark - acknowledged position).

        Where nothing was acknowledged yet the committed offset counts (or, failing that,
        the first message handed out, or the low watermark). 0 before assignment.
        """
        if not self._guard.enter():
            return 0
        try:
            with self._gate.other():
                return self._parts.backlog()
        except KafkaException as exc:
            raise translated(exc, "unable to compute the backlog") from exc
        finally:
            self._guard.exit()

    # -- close --------------------------------------------------------------------------

    def close(self, timeout: float) -> None:
        """Commit the acknowledged positions, leave the group, close the handle (bounded)."""
        deadline = time.monotonic() + timeout
        self._tick_stop.set()
        self._close_step = "waiting for its calls in progress to end"
        if not self._guard.shut(timeout):
            self._log.error("Kafka consumer calls still running after %gs; closing anyway", timeout)
        parts = self._parts
        offsets: list[TopicPartition] = []
        try:
            parts.store()
            offsets = positions(parts.current())
        finally:
            self._handle_closing = True
            outcome: dict[str, str] = {}

            def finish() -> None:
                # one thread, in order: the handle is never used by two at once
                if offsets:
                    self._close_step = (
                        f"committing offsets {fmt(offsets)} (waiting for the group coordinator)"
                    )
                outcome["commit"] = parts.commit_now(offsets)
                self._close_step = "leaving the group and closing its librdkafka handle"
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

    def unfinished(self) -> str:
        """What close is doing, and the partitions with messages not acknowledged."""
        step = f"the kafka consumer is {self._close_step}" if self._close_step else ""
        n = sum(1 for s in self._parts.current() if s.runs)
        more = (
            f"{n} partition(s) with messages handed out and not acknowledged (they are "
            "consumed again)"
            if n
            else ""
        )
        return "; ".join(x for x in (step, more) if x)

    def wake(self) -> None:
        """Nothing: a waiting fetch is a slice of at most 0.2 s."""

    def give_back(self, msgs: Sequence[Message]) -> list[Message]:
        """Nothing to do: unacknowledged messages are consumed again."""
        return []

    def stopped(self, unhanded: Sequence[Message]) -> None:
        """Nothing to do: see :meth:`give_back`."""

    def save_before_exit(self) -> None:
        """Nothing to save: what is committed is librdkafka's."""


class KafkaConsumer(ConsumerFront):
    """Consumer of one or more Kafka topics in a consumer group."""

    client_type = "kafka"

    def __init__(self, config: ConsumerConfig) -> None:
        super().__init__(config, lambda link: KafkaSource(config, link))
