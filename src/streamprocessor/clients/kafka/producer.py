"""The Kafka producer: asynchronous sends, every delivery checked, bounded flush and close.

How it works:

- ``send`` numbers the message for the ack barrier and hands it to librdkafka with a
  tiny per-message delivery callback; a full local queue makes ``send`` wait (serving
  delivery reports meanwhile) instead of failing — back-pressure;
- delivery reports run inside ``poll``: ``send`` polls every 1000 messages, consumers
  poll through the idle hook before they block, and a background thread polls when
  nobody else did for a while, so confirmations (and the commits waiting on them) flow
  while the application is idle;
- a report only appends the message's number to a deque; the numbers are moved into the
  :class:`~streamprocessor.util.barrier.DeliveryTracker` under a lock right after the
  poll, in one batch;
- a message librdkafka refuses in ``produce`` (too large, an invalid topic name, a field
  it cannot take) is an :class:`~streamprocessor.stream.errors.InvalidMessageError`:
  nothing was sent and the producer goes on (the runner makes it the handler's failure);
- a batch the broker refuses for good (a code of ``REFUSAL_CODES``: too large for the
  topic, no key on a compacted topic, …) fails every message in it; they are sent again
  in halves of what failed, alone in librdkafka's queue, so only the message at fault is
  refused: a *refused send*, handed to the ``on_refused`` callback (it holds back the
  acks made after it until released), or without one a failed delivery. The others
  arrive after what was sent to their partition meanwhile;
- a failed delivery is a :class:`~streamprocessor.stream.errors.DeliveryError`; the
  message stays unconfirmed, so no ack that came after it is ever committed.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from types import MethodType
from typing import TYPE_CHECKING, Any

from confluent_kafka import KafkaError, KafkaException, Producer

from streamprocessor.clients.front import IDLE_HOOKS, ProducerFront
from streamprocessor.clients.kafka._delivery import Deliveries
from streamprocessor.clients.kafka._errors import (
    REFUSAL_CODES,
    Severity,
    classify,
    describe,
    kafka_error,
    log_transient,
    translated,
)
from streamprocessor.clients.kafka._lifecycle import (
    StartupErrors,
    client_conf,
    run_bounded,
    wait_for_cluster,
)
from streamprocessor.clients.kafka._properties import (
    config_error,
    connect_timeout,
    producer_properties,
    redacted,
    topic_problem,
    variable,
)
from streamprocessor.clients.kafka.message import KafkaMessage, timestamp_ms, to_datetime
from streamprocessor.clients.ports import SinkLink
from streamprocessor.clients.validation import SentNames, problem, refusal
from streamprocessor.stream.errors import (
    ClientError,
    DeliveryError,
    FlushTimeoutError,
    InvalidMessageError,
)
from streamprocessor.stream.message import Message
from streamprocessor.util.barrier import DeliveryTracker, RefusedSend

if TYPE_CHECKING:
    from streamprocessor.config.models import ProducerConfig

#: ``ts`` of a forwarded record whose own milliseconds are sent (``ms`` holds them)
_RECORD: Any = object()
#: the tags of a forwarded record without headers (never a dict the message owns)
_NO_TAGS: dict[str, bytes] = {}

__all__ = ["KafkaProducer", "KafkaSink"]

#: what ``produce`` (or building its arguments) raises for a message it cannot take
_REFUSED = (KafkaException, TypeError, ValueError, OverflowError, AttributeError)


_POLL_EVERY = 1000  # sends between two poll(0) calls on the sending thread
_IDLE_POLL = 0.05  # seconds without a poll after which the background thread polls
_SLICE = 0.2  # seconds: flush waits in slices so signals are handled
_PURGED = frozenset({KafkaError._PURGE_QUEUE, KafkaError._PURGE_INFLIGHT})


def _size(v: bytes | None, k: bytes | None, headers: Any) -> int:
    """About the bytes librdkafka counts against ``message.max.bytes``."""
    n = (len(v) if v else 0) + (len(k) if k else 0)
    for name, value in headers:
        n += len(name.encode()) + (len(value) if value else 0)
    return n


class KafkaSink:
    """Sends to Kafka asynchronously, every delivery checked (the port of KafkaProducer)."""

    synchronous = False

    def __init__(self, config: ProducerConfig, link: SinkLink) -> None:
        self._link = link
        self._log = link.log
        self._closing = False
        self._closed = False
        self._dr = Deliveries(
            f"KafkaProducer({config.name or 'producer'})", link.barrier_flush, self._outstanding
        )
        self.tracker: DeliveryTracker | None = self._dr.tracker
        self._tracker = self._dr.tracker
        self._setup(config)

    def _outstanding(self) -> int:
        p = getattr(self, "_p", None)
        return len(p) if p is not None else 0

    def _setup(self, config: ProducerConfig) -> None:
        k = config.kafka
        props = producer_properties(config)
        self._topic: str = k.topic
        self._names = SentNames(topic_problem, values=False)
        self._max_bytes = int(props.get("message.max.bytes", 1_000_000))
        #: messages librdkafka's local queue holds before ``send`` has to wait for room
        self._room = int(props.get("queue.buffering.max.messages", 100_000))
        self._variable = variable(config, "KAFKA_LIBRDKAFKA_CONFIG")
        self._ignore = frozenset(int(c) for c in k.ignore_errors)
        self._numbers = self._dr.numbers
        self._counter = self._dr.counter
        self._carry = self._dr.carry
        #: failures of a refused batch, to send again alone: ``(number, error, record)``
        self._again: list[tuple[int, Any, Any, Any, int]] = []
        self._again_lock = threading.Lock()
        #: held while they are sent again (see _isolate); ``send`` waits for it
        self._isolating = threading.Lock()
        self._isolator: int | None = None
        self._refusals: Callable[[RefusedSend], None] | None = None
        #: a refused batch is being sent again: ``send`` waits for it (see _isolate)
        self._held = False
        self._last_poll = time.monotonic()
        self._purging = False
        self._startup: StartupErrors | None = StartupErrors(self._ignore)
        conf = client_conf(props, self._log, self._on_error, self._on_stats, redacted, config)
        try:
            self._p = Producer(conf)
        except KafkaException as exc:
            raise config_error(exc, config, "producer") from exc
        self._produce = self._p.produce
        try:
            wait_for_cluster(
                lambda t: self._p.list_topics(None, t),
                lambda: self._p.poll(0),
                self._startup,
                connect_timeout(config),
                props["bootstrap.servers"],
                variable(config, "KAFKA_BROKERS"),
            )
        except BaseException:
            self._p.purge()
            run_bounded(self._p.close, 2.0, "kafka-producer-close")
            raise
        self._startup = None
        self._stop = threading.Event()
        self._poller = threading.Thread(
            target=self._poll_loop, name="streamprocessor-kafka-delivery", daemon=True
        )
        self._poller.start()
        IDLE_HOOKS.append(self._idle)

    # -- sending ------------------------------------------------------------------------

    def send(self, msg: Message) -> None:
        """Send ``msg`` to its ``producer_topic`` (else the configured topic).

        Blocks while librdkafka's local queue is full. Raises the pending fatal error of
        this producer (e.g. a failed delivery) under default error handling.
        """
        if self._held:
            self._wait_isolation()
        try:
            value = msg.value
            key = msg.key
            topic = msg.producer_topic
            if msg.__class__.__base__ is KafkaMessage and "timestamp" not in msg.__dict__:
                # A consumed record forwarded with its timestamp untouched: send the
                # record's own milliseconds, never building the datetime ``timestamp``
                # would be (a fifth of a pipe's time), nor an empty tags dict
                record = msg._record  # type: ignore[attr-defined]
                kind, ms = record.timestamp()
                ts = _RECORD if kind and ms > 0 else None
                tags = msg.tags if "tags" in msg.__dict__ or record.headers() else _NO_TAGS
            else:
                ts = msg.timestamp
                tags = msg.tags
        except AttributeError:
            raise refusal(msg) from None
        if (
            topic
            or tags
            or tags.__class__ is not dict
            or (value.__class__ is not bytes and value is not None)
            or (key is not None and key.__class__ is not bytes)
        ):  # (a bad timestamp: produce refuses it, see _refused)
            self._names.check(msg)  # (a tag name with a lone surrogate crashes confluent-kafka)
        topic = topic or self._topic
        seq = 0  # the send's number (0: none taken yet)
        try:
            if ts is None and not tags:
                report = next(self._numbers)  # its number and delivery callback
                seq = report.__self__
                self._produce(topic, value, key, -1, report)
            else:  # (their failed delivery report lacks them: its callback carries them)
                if ts is not _RECORD:
                    ms = 0 if ts is None else timestamp_ms(ts)
                # (the tags dict itself: a list built here and kept until the report would
                # cost the garbage collector more than the send)
                headers: Any = tags or None
                seq = next(self._counter)
                self._produce(
                    topic, value, key, -1, MethodType(self._carry, (seq, headers, ms)), None,
                    ms, headers,
                )
        except BufferError:
            if ts is _RECORD:
                ts = msg.timestamp
            self._produce_blocking(msg, topic, value, key, ts, tags, seq)
        except _REFUSED as exc:
            self._void(seq)
            self._raise_refused(msg, topic, exc)
        if not seq % _POLL_EVERY:  # serve delivery reports now and then
            self._serve(0)

    def send_nowait(self, msg: Message) -> bool:
        """Send ``msg`` as :meth:`send` does unless that would wait: then False, nothing sent.

        For the async face, which sends on its event loop and waits for room on its worker
        thread instead. (A queue full by its byte limit still makes this wait, briefly.)
        """
        if self._held or len(self._p) >= self._room:
            return False
        self.send(msg)
        return True

    def _produce_blocking(
        self, msg: Message, topic: str, value: Any, key: Any, ts: Any, tags: Any, seq: int
    ) -> None:
        """Wait for room in the local queue (back-pressure), serving delivery reports."""
        while True:
            if not self._serve(0.05):
                time.sleep(0.005)  # another thread serves the reports
            if self._link.failed or self._closed:
                self._void(seq)
                self._link.check("send")
            ms = 0 if ts is None else timestamp_ms(ts)
            headers: Any = tags or None
            try:
                self._produce(
                    topic, value, key, -1, self._dr.report(seq, headers, ms), None, ms,
                    headers,
                )
                return
            except BufferError:
                continue
            except _REFUSED as exc:
                self._void(seq)
                self._raise_refused(msg, topic, exc)

    def _raise_refused(self, msg: Message, topic: str, exc: BaseException) -> None:
        """Raise why ``produce`` did not take ``msg``; a fatal error fails the producer.

        With manual error handling the fatal error goes to ``errors()`` and is not raised.
        """
        error = self._refused(msg, topic, exc)
        if isinstance(error, InvalidMessageError):
            raise error from exc
        error.__cause__ = exc
        self._link.fail(error)
        self._link.raise_failure()

    def _refused(self, msg: Message, topic: str, exc: BaseException) -> ClientError:
        """The error for a send librdkafka did not take (nothing of it was sent).

        The message's fault (:class:`InvalidMessageError`: too large, a field of the wrong
        type, anything librdkafka refuses in ``produce``) unless librdkafka says this
        producer cannot go on.
        """
        err = kafka_error(exc)
        if err is None:
            if problem(msg, topic_problem) is not None:  # a field of the wrong type
                return refusal(msg, topic_problem)
            return InvalidMessageError(f"cannot send a message to {topic!r}: {exc}")
        if err.fatal() or err.code() == KafkaError._FATAL:
            return ClientError(f"unable to produce message to {topic!r}: {describe(err)}")
        if err.code() == KafkaError.MSG_SIZE_TOO_LARGE:
            size = _size(msg.value, msg.key, msg.tags.items())
            return InvalidMessageError(
                f"cannot send a message of {size} bytes to {topic!r}: {err.str()} "
                f"({err.name()}): larger than this producer's message.max.bytes of "
                f"{self._max_bytes}: send smaller messages, or raise the limit with "
                f"{self._variable}=message.max.bytes=N (and max.message.bytes on the "
                "topic, on the broker)"
            )
        return InvalidMessageError(f"cannot send a message to {topic!r}: {describe(err)}")

    def _void(self, seq: int) -> None:
        """Confirm a send that never reached librdkafka: there is nothing to wait for."""
        self._dr.confirm(seq)

    # -- delivery reports ---------------------------------------------------------------

    def _serve(self, timeout: float) -> bool:
        """Poll for delivery reports unless another thread does; return whether it polled."""
        lock = self._dr.serve_lock
        if not lock.acquire(blocking=False):
            return False
        try:
            self._last_poll = time.monotonic()
            try:
                self._p.poll(timeout)
            except KafkaException as exc:  # librdkafka's fatal error, raised from poll
                self._handle_failed(exc)
            failures = self._dr.settle()
        finally:
            lock.release()
        if failures:
            self._report_failures(failures)
        return True

    def _report_failures(self, failures: list[tuple[int, Any, Any, Any, int]]) -> None:
        again = False
        for failure in failures:
            seq, err, msg, _, _ = failure
            code = err.code()
            if code in REFUSAL_CODES and not self._purging:
                with self._again_lock:
                    self._again.append(failure)
                again = True
                continue
            self._dr.fail(seq)
            if code in _PURGED and self._purging:
                continue
            self._link.fail(
                DeliveryError(
                    f"message delivery failure error: {describe(err)} "
                    f"(topic {msg.topic()!r}, key {msg.key()!r})"
                )
            )
        if again:
            self._isolate()

    # -- refused batches: each message again, alone -------------------------------------

    def on_refused(self, callback: Callable[[RefusedSend], None] | None) -> None:
        """Have ``callback`` take the sends the broker refuses alone (None: fail instead).

        A refused send is the message's fault (too large for the topic, no key on a
        compacted topic, a topic this producer may not write to): the producer goes on.
        The callback runs on whichever thread serves delivery reports and must not block;
        the acks made after the send wait until its :meth:`RefusedSend.release`. Without
        a callback a refused send is a failed delivery (:class:`DeliveryError`).
        """
        self._refusals = callback

    def _isolate(self) -> None:
        """Send the messages of refused batches again, in ever smaller groups; one thread.

        Meanwhile other threads' sends wait (``_held`` sends them the slow way), so
        what is sent again is all librdkafka holds: a message refused while the others of
        its group were delivered was refused alone.
        """
        while self._again and self._isolating.acquire(blocking=False):
            self._isolator = threading.get_ident()
            self._held = True
            try:
                while self._again:
                    with self._again_lock:
                        group = self._again[:]
                        self._again.clear()
                    self._send_again(group)
            finally:
                self._isolator = None
                self._held = False
                self._isolating.release()

    def _wait_isolation(self) -> None:
        if self._isolating.locked() and self._isolator != threading.get_ident():
            with self._isolating:  # (released once the refused batch is sent again)
                pass

    def _send_again(self, group: list[tuple[int, Any, Any, Any, int]]) -> None:
        """Send ``group`` again under their numbers; halve what fails until one is alone.

        A group fails whole when librdkafka batches it whole (the broker checks the batch
        against ``max.message.bytes`` too), so halving finds each message at fault in
        about log2(len(group)) rounds, and delivers the others.
        """
        work = [group]
        while work:
            group = work.pop()
            self._flush(None)  # what else is queued goes first (its failures queue up here)
            with self._again_lock:
                before = len(self._again)
            sent = set()
            for failure in group:
                seq, err, rec, headers, ms = failure
                try:
                    self._produce_again(rec, self._dr.report(seq, headers, ms), ms, headers)
                except _REFUSED as exc:  # (a topic not authorised is refused at once now)
                    cause = exc.args[0] if isinstance(exc, KafkaException) and exc.args else None
                    self._refuse(seq, cause if isinstance(cause, KafkaError) else err, rec,
                                 headers, ms)
                else:
                    sent.add(seq)
            self._flush(None)
            with self._again_lock:
                came = self._again[before:]
                failed = [f for f in came if f[0] in sent]
                self._again[before:] = [f for f in came if f[0] not in sent]
            if len(failed) == 1 and len(came) == 1:
                self._refuse(*failed[0])
            elif len(failed) == 1:  # a send that slipped in failed with it: once more
                work.append(failed)
            elif failed:
                half = len(failed) // 2
                work += [failed[half:], failed[:half]]  # (the first half first)

    def _produce_again(self, rec: Any, report: Any, ms: int, headers: Any) -> None:
        while True:
            try:
                self._produce(rec.topic(), rec.value(), rec.key(), rec.partition(), report,
                              None, ms, headers)
                return
            except BufferError:  # (a large refused batch: make room)
                self._flush(_SLICE)

    def _refuse(self, seq: int, err: Any, rec: Any, headers: Any, ms: int) -> None:
        """Report a send the broker refused alone: to the owner's callback, or as failed."""
        text = self._refusal_text(err, rec, headers)
        callback = self._refusals
        if callback is None:
            self._dr.fail(seq)
            self._link.fail(DeliveryError(f"message delivery failure error: {text}"))
            return
        message = Message(
            value=rec.value(), key=rec.key(), timestamp=to_datetime((1, ms)) if ms else None,
            tags=dict(headers) if headers else None, producer_topic=rec.topic(),
        )
        try:
            callback(
                RefusedSend(message, InvalidMessageError(text), self._tracker, seq,
                            lambda: self._dr.confirm(seq))
            )
        except Exception as exc:  # (never into the thread serving reports)
            self._log.error("The callback for refused sends failed: %s", exc)

    def _refusal_text(self, err: Any, rec: Any, headers: dict[str, Any] | None) -> str:
        """Which message the broker refused, why, and what to do about it."""
        key = rec.key()
        size = _size(rec.value(), key, headers.items() if headers else ())
        where = (
            f"the broker refused a message of {size} bytes (topic {rec.topic()!r}, "
            f"partition {rec.partition()}, key {key if key is None else key[:40]!r}), "
            f"sent alone: {err.str()} ({err.name()})"
        )
        if err.code() == KafkaError.MSG_SIZE_TOO_LARGE:
            return (
                f"{where}: larger than the topic's max.message.bytes (or the broker's "
                f"message.max.bytes), which is below this producer's message.max.bytes of "
                f"{self._max_bytes}: send smaller messages, raise max.message.bytes on the "
                f"topic, or set {self._variable}=message.max.bytes=N to the topic's limit "
                "so that send refuses such messages at once"
            )
        hint = describe(err).partition(f"({err.name()})")[2]
        return where + hint

    def _poll_loop(self) -> None:
        stop = self._stop
        while not stop.wait(_IDLE_POLL):
            if time.monotonic() - self._last_poll < _IDLE_POLL:
                continue
            try:
                self._serve(0)
            except Exception as exc:  # keep serving; the handle may be closing
                if stop.is_set():
                    return
                self._log.error("Serving Kafka delivery reports failed: %s", exc)

    def _idle(self) -> None:
        if not self._closed and not self._closing:
            self._serve(0)
        # A failed delivery must end the application's loop even when its input is idle
        # and no further send comes: the consumer about to wait raises it.
        self._link.raise_failure()

    # -- errors and statistics (callbacks: never raise) ---------------------------------

    def _on_error(self, err: Any) -> None:
        try:
            if self._startup is not None:
                self._startup(err)
                return
            severity = classify(err, self._ignore)
            if severity is Severity.FATAL:
                self._link.fail(ClientError(f"received error from Kafka: {describe(err)}"))
            else:
                log_transient(self._log, "producer", err, severity)
        except BaseException:  # never into librdkafka
            pass

    def _on_stats(self, stats: str) -> None:
        with contextlib.suppress(BaseException):  # never into librdkafka
            self._log.info("Received Kafka statistics.", extra={"statistics": stats})

    # -- flush and close ----------------------------------------------------------------

    def _flush(self, timeout: float | None) -> int:
        """Wait until nothing is queued or in flight, or ``timeout``; return what is left."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if deadline is None:
                step = _SLICE
            else:
                step = max(min(_SLICE, deadline - time.monotonic()), 0.0)
            with self._dr.serve_lock:
                self._last_poll = time.monotonic()
                try:
                    left = int(self._p.flush(step))
                except KafkaException as exc:  # librdkafka's fatal error, raised from flush
                    self._handle_failed(exc)
                    left = len(self._p)
                failures = self._dr.settle()
            if failures:
                self._report_failures(failures)
            if left == 0 or self._link.failed or (
                deadline is not None and time.monotonic() >= deadline
            ):
                return left

    def _handle_failed(self, exc: KafkaException) -> None:
        """Librdkafka raised its fatal error: the producer cannot go on (see the front)."""
        self._link.fail(translated(exc, "the Kafka producer cannot go on"))

    def flush(self, timeout: float | None) -> None:
        """Wait until every message sent is delivered.

        ``timeout`` (seconds) bounds the wait; without one the wait ends when librdkafka
        delivered or gave up on every message (``message.timeout.ms``). Raises
        :class:`FlushTimeoutError` saying how many messages were not delivered in time,
        and the pending delivery error under default error handling.
        """
        t = timeout
        left = self._flush(t)
        if self._again or self._isolating.locked():
            self._wait_isolation()  # (another thread sends a refused batch again)
            self._isolate()
            left = self._flush(t)
        self._link.raise_failure()
        if left:
            raise FlushTimeoutError(
                f"{left} message(s) not delivered to Kafka within {t:g}s "
                "(broker unreachable or slow?); they are still queued",
                left,
            )

    def close(self, timeout: float) -> None:
        """Flush within ``timeout``, drop what is left (FlushTimeoutError), close the handle."""
        self._closing = True
        with contextlib.suppress(ValueError):
            IDLE_HOOKS.remove(self._idle)
        left = self._flush(timeout)
        self._stop.set()
        self._poller.join(1.0)
        if left:
            self._purging = True
            self._p.purge()
            self._serve(0)
            self._log.error(
                "failed to flush all messages, %d left: not delivered to Kafka within %gs; "
                "they are dropped",
                left,
                timeout,
            )
        done, _, exc = run_bounded(self._p.close, 2.0, "streamprocessor-kafka-producer-close")
        if not done:
            self._log.error("The Kafka producer did not shut down within 2s; left behind")
        elif exc is not None:
            self._log.error("Closing the Kafka producer failed: %s", exc)
        self._closed = True
        if left:
            raise FlushTimeoutError(
                f"failed to flush all messages, {left} left: not delivered to Kafka within "
                f"{timeout:g}s (raise options.shutdown_timeout if the brokers are slow)",
                left,
            )

    def unfinished(self) -> str:
        """How many messages librdkafka still holds."""
        n = self._dr.tracker.pending
        return f"kafka producer has {n} undelivered message(s)" if n else ""

    def save_before_exit(self) -> None:
        """Nothing beyond what librdkafka delivers by itself meanwhile."""


class KafkaProducer(ProducerFront):
    """Producer to Kafka; ``send`` is asynchronous, ``flush``/``close`` wait (bounded)."""

    client_type = "kafka"

    def __init__(self, config: ProducerConfig) -> None:
        super().__init__(config, lambda link: KafkaSink(config, link))
