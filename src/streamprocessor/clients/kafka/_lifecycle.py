"""Keeping a librdkafka handle safe and every wait on it bounded.

- :class:`HandleGuard` — calls on a handle from several threads (iteration, ``ack``,
  ``backlog``, a background ticker) never overlap its destruction: ``close`` shuts the
  guard, waits for the calls in progress, and only then closes the handle.
- :class:`ConsumeGate` — confluent-kafka (2.16) lets one thread at a time into a
  Consumer; another thread polls for its turn every millisecond, and since iteration
  re-enters ``consume()`` at once it could wait for minutes. Calls from other threads
  take this gate, and the iterating thread gives way to them between two consumes.
- :func:`run_bounded` — librdkafka's ``close()`` and synchronous ``commit()`` have no
  timeout and can wait for a broker that is gone; they run in a helper thread that is
  given up on after the deadline.
- :func:`wait_for_cluster` — a new client asks for cluster metadata until it gets an
  answer or the connect timeout passes, so an unreachable broker is a clear error at
  construction instead of an endless silent retry.
- :class:`LibrdkafkaLog` — librdkafka's own log lines go to the client's logger, but a
  line that only repeats (a broker that stays down: ``Connect to … failed`` several times
  a second) is logged once per interval with the count of the ones left out
  (:mod:`streamprocessor.util.throttle`), and a failed
  connection — which librdkafka retries — is a WARNING, not an ERROR.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from confluent_kafka import KafkaException

from streamprocessor.clients.kafka._errors import TERMINAL_CODES, describe, kafka_error, translated
from streamprocessor.stream.errors import ClientError
from streamprocessor.util.throttle import DEFAULT_INTERVAL, LogThrottle

__all__ = [
    "ConsumeGate",
    "HandleGuard",
    "LibrdkafkaLog",
    "StartupErrors",
    "run_bounded",
    "wait_for_cluster",
]

T = TypeVar("T")


class HandleGuard:
    """Counts the calls in progress on a handle; :meth:`shut` waits for them to end."""

    __slots__ = ("_cond", "_shut", "_users")

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._users = 0
        self._shut = False

    def enter(self) -> bool:
        """Start a call; False when the handle is being closed (do not touch it)."""
        with self._cond:
            if self._shut:
                return False
            self._users += 1
            return True

    def exit(self) -> None:
        """End a call started by a successful :meth:`enter`."""
        with self._cond:
            self._users -= 1
            if not self._users:
                self._cond.notify_all()

    def shut(self, timeout: float) -> bool:
        """Refuse new calls and wait up to ``timeout`` seconds for the running ones."""
        with self._cond:
            self._shut = True
            return self._cond.wait_for(lambda: self._users == 0, timeout)

    @property
    def is_shut(self) -> bool:
        """Whether :meth:`shut` was called."""
        return self._shut


class ConsumeGate:
    """Turns on a consumer handle between the iterating thread and the others."""

    __slots__ = ("_count", "_lock", "_waiting")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = threading.Lock()
        self._waiting = 0

    def iterate(self) -> threading.Lock:
        """Return the lock for the iterating thread, after letting waiting threads in."""
        for _ in range(1000):  # at most ~1 s, should a waiter never get through
            if not self._waiting:
                break
            time.sleep(0.001)
        return self._lock

    @contextlib.contextmanager
    def other(self) -> Iterator[None]:
        """Hold the handle for a call from a thread that is not iterating."""
        with self._count:
            self._waiting += 1
        try:
            self._lock.acquire()
        finally:
            with self._count:
                self._waiting -= 1
        try:
            yield
        finally:
            self._lock.release()

    def try_other(self) -> bool:
        """Take the handle if nobody uses it (release with :meth:`release`)."""
        return self._lock.acquire(blocking=False)

    def release(self) -> None:
        """Give back the handle taken with :meth:`try_other`."""
        self._lock.release()


def run_bounded(
    fn: Callable[[], T], timeout: float, name: str
) -> tuple[bool, T | None, BaseException | None]:
    """Run ``fn`` in a daemon thread for at most ``timeout`` seconds.

    Returns ``(finished, result, exception)``; when it did not finish in time the thread
    is left to end on its own.
    """
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = fn()
        except BaseException as exc:  # reported to the caller
            box["error"] = exc

    t = threading.Thread(target=run, name=name, daemon=True)
    t.start()
    t.join(max(timeout, 0.0))
    if t.is_alive():
        return False, None, None
    return True, box.get("result"), box.get("error")


def _terminal(err: Any) -> bool:
    """Tell whether waiting longer for the cluster cannot help."""
    return bool(err.fatal()) or err.code() in TERMINAL_CODES


class StartupErrors:
    """Collects the terminal errors librdkafka reports while a client connects."""

    def __init__(self, ignore: frozenset[int]) -> None:
        self.ignore = ignore
        self.errors: list[Any] = []
        self.last: Any = None

    def __call__(self, err: Any) -> None:
        """Take one error from librdkafka's error callback (never raises)."""
        try:
            self.last = err
            if err.code() not in self.ignore and _terminal(err):
                self.errors.append(err)
        except Exception:  # never let anything escape into librdkafka
            pass


def wait_for_cluster(
    list_topics: Callable[[float], Any],
    serve: Callable[[], Any],
    startup: StartupErrors,
    timeout: float,
    brokers: str,
    variable: str,
) -> Any:
    """Ask for metadata until the cluster answers; raise ClientError after ``timeout``.

    ``serve`` runs librdkafka's callbacks so that a terminal error (TLS, authentication)
    fails at once instead of after the whole timeout. A ``timeout`` of 0 skips the wait.
    """
    if timeout <= 0:
        return None
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        try:
            return list_topics(max(min(left, 1.0), 0.05))
        except KafkaException as exc:
            err = kafka_error(exc)
            if err is not None and _terminal(err):
                raise translated(exc, f"unable to connect to Kafka at {brokers}") from exc
        serve()
        if startup.errors:
            raise ClientError(
                f"unable to connect to Kafka at {brokers}: {describe(startup.errors[0])}"
            )
        if time.monotonic() >= deadline:
            last = f" (last error: {describe(startup.last)})" if startup.last is not None else ""
            raise ClientError(
                f"unable to reach Kafka at {brokers} within {timeout:g}s{last}: check that "
                f"the brokers run and are reachable ({variable}); raise the wait with "
                "options.kafka_connect_timeout / *_KAFKA_CONNECT_TIMEOUT"
            )


def client_conf(
    props: dict[str, Any],
    log: Any,
    on_error: Callable[[Any], None],
    on_stats: Callable[[str], None],
    redacted: Callable[[dict[str, Any]], Any],
    config: Any = None,
) -> dict[str, Any]:
    """Return the properties with the client's callbacks added, and log the client.

    One short INFO line (kind, name, brokers, topics, group); the redacted properties at
    DEBUG.
    """
    kind = "consumer" if "group.id" in props else "producer"
    k = getattr(config, "kafka", None)
    topics = ",".join(getattr(k, "topics", None) or [getattr(k, "topic", "") or ""])
    name = getattr(config, "name", "") or ""
    extra: dict[str, Any] = {"client": "kafka", "kind": kind, "client_name": name or kind,
                             "brokers": props.get("bootstrap.servers", ""), "topics": topics}
    if kind == "consumer":
        extra["group"] = props.get("group.id", "")
    log.info("Kafka %s %s: brokers %s, topic(s) %s%s.", kind, repr(name or kind),
             extra["brokers"], topics, f", group {extra['group']}" if "group" in extra else "",
             extra=extra)
    if log.isEnabledFor(logging.DEBUG):
        log.debug("Kafka %s configuration.", kind, extra={"client": "kafka", "kind": kind,
                                                          "config": redacted(props)})
    conf = dict(props)
    conf["error_cb"] = on_error
    conf["stats_cb"] = on_stats
    conf["logger"] = LibrdkafkaLog(log)
    return conf


_NUMBERS = re.compile(r"\d+")


class LibrdkafkaLog:
    """The ``logger`` librdkafka writes to: repeats of a line at most once per interval.

    confluent-kafka calls ``log(level, "%s [%s] %s", facility, client, text)``. Lines that
    differ only in numbers (ports, milliseconds, counts) are the same cause for a
    :class:`~streamprocessor.util.throttle.LogThrottle`. ``FAIL`` lines (a connection
    failed; librdkafka reconnects by itself) are WARNINGs.
    """

    def __init__(
        self,
        log: logging.Logger,
        interval: float = DEFAULT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = log
        self._throttle = LogThrottle(interval, clock)

    def log(self, level: int, msg: str, *args: Any) -> None:
        """Log one librdkafka line (or count it as a repeat)."""
        facility = str(args[0]) if args else ""
        if facility == "FAIL" and level > logging.WARNING:
            level = logging.WARNING
        if not self._log.isEnabledFor(level):
            return
        cause = _NUMBERS.sub("#", " ".join(map(str, args)) or msg)
        self._throttle.log(self._log, level, cause, msg, *args)
