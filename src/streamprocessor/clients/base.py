"""What every client shares: lifecycle, error handling, interrupts and the ack path.

A client subclasses :class:`ConsumerBase` or :class:`ProducerBase` and fills in a few
hooks. The base classes keep the promises of the contract (``stream.protocols``): close is
idempotent, a closed client refuses ``ack``/``nack``/``send``/``flush`` with a clear error,
iterating a closed consumer ends at once, a fatal error closes the client cleanly and is
raised at the caller's next call (or, with manual error handling, arrives on ``errors()``).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta
from itertools import chain
from operator import length_hint
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from streamprocessor.clients.barrier import BARRIER, DeliveryTracker, PendingAcks
from streamprocessor.config.defaults import DefaultConfig
from streamprocessor.stream.errors import (
    ClientClosedError,
    ManualErrorsDisabledError,
    StreamProcessorError,
)
from streamprocessor.stream.message import Message
from streamprocessor.stream.mocks import Channel
from streamprocessor.util.interrupts import COORDINATOR

if TYPE_CHECKING:
    from streamprocessor.config.models import ConsumerConfig, ProducerConfig

__all__ = [
    "IDLE_HOOKS",
    "ClientBase",
    "ConsumerBase",
    "ErrorChannel",
    "ProducerBase",
    "run_idle_hooks",
    "seconds",
]

_MATERIALIZE = threading.Lock()  # one thread builds a client's real config

#: Called by every consumer just before it would block waiting for input (stdin has no
#: complete line ready, Kafka returned nothing): buffered producers flush here, so output
#: is prompt for people and still written in large blocks for bulk input.
IDLE_HOOKS: list[Callable[[], None]] = []


def run_idle_hooks() -> None:
    """Run the idle hooks (consumers call this before blocking on their source)."""
    for hook in tuple(IDLE_HOOKS):
        hook()


def seconds(timeout: float | timedelta | None) -> float | None:
    """Return ``timeout`` in seconds (``None`` stays ``None``)."""
    if isinstance(timeout, timedelta):
        return timeout.total_seconds()
    return timeout


class ErrorChannel(Channel):
    """An iterable of a client's errors; iteration ends when the client is closed."""

    def get(self, timeout: float | None = None) -> BaseException | None:
        """Return the next error, or ``None`` at the end or after ``timeout`` seconds."""
        item = super().get(timeout)
        assert item is None or isinstance(item, BaseException)
        return item

    def __iter__(self) -> Iterator[BaseException]:
        return super().__iter__()


class ClientBase:
    """Lifecycle and error handling shared by consumers and producers."""

    kind = "client"
    #: the registry name of the client type (``inmem``, ``kafka``, …)
    client_type = ""

    def __init__(self, config: Any) -> None:
        # a DefaultConfig (the standard-stream clients' quick start) until ``config`` is read
        self._config = config
        self._log: logging.Logger = config.logger
        self._closed = False
        self._closing = False
        self._close_lock = threading.Lock()
        self._failure: BaseException | None = None
        self._failure_raised = False
        self._errors = ErrorChannel()
        self._registered = False

    @property
    def config(self) -> Any:
        """The client's ``ConsumerConfig`` or ``ProducerConfig`` (built on first use)."""
        config = self._config
        if isinstance(config, DefaultConfig):
            with _MATERIALIZE:
                config = self._config
                if isinstance(config, DefaultConfig):
                    config = self._config = config.materialize()
        return config

    @config.setter
    def config(self, config: Any) -> None:
        self._config = config

    # -- errors -------------------------------------------------------------------------

    def errors(self) -> ErrorChannel:
        """Return this client's errors (only with ``options.manual_error_handling()``).

        With default error handling the returned channel holds a single
        :class:`ManualErrorsDisabledError` and ends, as in the original.
        """
        if self._config.handle_errors:
            ch = ErrorChannel()
            ch.put(
                ManualErrorsDisabledError(
                    "unable to manually consume errors while handle_errors is true: "
                    "pass options.manual_error_handling() to read errors yourself"
                )
            )
            ch.close()
            return ch
        return self._errors

    def _fail(self, exc: BaseException) -> None:
        """Report a fatal client error (from any thread).

        Default handling: close this client cleanly, raise it at the next call (whoever
        catches it reports it: the runner logs it once, at ERROR; here it is DEBUG).
        Manual handling: put it on ``errors()``; the client stays open.
        """
        if not self._config.handle_errors:
            self._errors.put(exc)
            return
        if self._failure is None:
            self._failure = exc
            self._log.debug(
                "Error received from streamclient: %s", exc, extra={"client": self.client_type}
            )
            self._on_failure()

    def _on_failure(self) -> None:
        """Hook: stop background work after a fatal error (close follows at the next call)."""

    def _raise_failure(self) -> None:
        if self._failure is not None and not self._failure_raised:
            self._failure_raised = True
            exc = self._failure
            with contextlib.suppress(StreamProcessorError):
                self.close()
            raise exc

    def _check_open(self, what: str) -> None:
        if self._failure is not None:
            self._raise_failure()
        if self._closed or self._closing:
            raise ClientClosedError(
                f"cannot {what}: this {self.client_type} {self.kind} is closed "
                f"(create a new one with streamprocessor.new_{self.kind}())"
            )

    # -- interrupts ---------------------------------------------------------------------

    def _register_interrupts(self) -> None:
        if self._config.handle_interrupt:
            self._registered = COORDINATOR.register(self)

    def _unregister_interrupts(self) -> None:
        if self._registered:
            self._registered = False
            COORDINATOR.unregister(self)

    def _interrupt(self) -> None:
        """Hook: a shutdown signal arrived (runs in the signal handler)."""

    def _describe_unfinished(self) -> str:
        """Hook: say what is not flushed/committed yet (for the shutdown watchdog)."""
        return ""

    def _before_exit(self) -> None:
        """Hook: the shutdown timeout is about to end the process: save what can be saved.

        Runs in the watchdog's thread while the application may still be busy; bounded by
        the caller, so it may block (e.g. on a stalled standard output).
        """

    @property
    def _is_iterating(self) -> bool:
        return False

    @property
    def _shutdown_timeout(self) -> float:
        return float(self._config.shutdown_timeout.total_seconds())

    # -- close --------------------------------------------------------------------------

    def close(self) -> None:
        """Close the client: idempotent; raises a pending fatal error once."""
        with self._close_lock:
            if self._closed:
                return
            self._closing = True
            try:
                self._close_impl()
            finally:
                self._closed = True
                self._errors.close()
                self._unregister_interrupts()
        if self._failure is not None and not self._failure_raised:
            self._failure_raised = True
            raise self._failure

    def _close_impl(self) -> None:
        """Hook: release resources (flush, commit). Called once."""

    @property
    def closed(self) -> bool:
        """Whether the client is closed."""
        return self._closed

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None and self._failure is exc:
            self._failure_raised = True  # it is already on its way up
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        name = f" {self._config.name!r}" if self._config.name else ""
        return f"<{type(self).__name__}{name} {state}>"


#: messages iteration hands out per step of its generator (the rest are C iterator steps)
_CHUNK = 64


class ConsumerBase(ClientBase):
    """Shared consumer machinery.

    Subclasses implement :meth:`_fill` (put messages on ``self._buffer``), :meth:`_token`
    (what an ack needs), :meth:`_commit` (apply acknowledged tokens), :meth:`_nack` and
    :meth:`backlog`. Acks go through the barrier: committable at once when no producer has
    undelivered sends, otherwise queued until they are delivered.
    """

    kind = "consumer"

    if TYPE_CHECKING:  # what users see; ClientBase.config builds it on first use

        @property
        def config(self) -> ConsumerConfig:
            """The client's ``ConsumerConfig``."""
        @config.setter
        def config(self, config: ConsumerConfig) -> None: ...

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        #: taken from the source, not handed out yet (a list: taken from in chunks)
        self._buffer: list[Message] = []
        self._pending = PendingAcks()
        self._stopping = False
        #: stop handing out what was already taken (interrupt without draining, close):
        #: read per message by users of :meth:`_batches`
        self._halted = False
        self._iterating = 0
        self._ack_lock = threading.Lock()
        #: acks dropped since last logged (a send before them failed for good)
        self._unreachable = 0
        self._unreachable_logged = float("-inf")
        #: the list iteration is handing out (taken from the buffer) and its iterator
        self._cur: list[Message] = []
        self._cur_it: Iterator[Message] = iter(self._cur)

    # -- iteration ----------------------------------------------------------------------

    def __iter__(self) -> Iterator[Message]:
        return self.messages()

    def messages(self) -> Iterator[Message]:
        """Return the iterator of messages; it ends at end of stream, close or interrupt."""
        if self._failure is not None:
            self._raise_failure()
        if self._closed or self._closing:
            return iter(())
        return self._iterate()

    def _iterate(self) -> Iterator[Message]:
        # Each message is one step of C iterators (a chain over list iterators), not a
        # generator step: the generator below runs once per list.
        return chain.from_iterable(self._lists())

    def _lists(self) -> Iterator[Iterator[Message]]:
        """Yield iterators over the buffered messages, a list at a time.

        The list being handed out is ``_cur``; :meth:`_unhand` puts its rest back on the
        buffer (its iterator then ends), which is how nack, purge, interrupt and close
        reach messages taken from the buffer but not handed out yet.
        """
        buf = self._buffer
        self._unhand()  # (what an earlier iterator took and did not hand out)
        self._iterating += 1
        first = True
        ending = False  # the source ended: hand out what is left (nacked ones too)
        try:
            while True:
                if buf:
                    # the first list of an iterator is one message (``next(iter(c))``
                    # takes one and leaves the rest), then chunks: the messages handed out
                    # are let go a chunk at a time (kept alive until the end of a whole
                    # fetched batch, they were promoted by the garbage collector)
                    n = _CHUNK if not first else 1
                    first = False
                    cur = self._cur = buf[:n]
                    del buf[:n]
                    it = self._cur_it = iter(cur)
                    if self._halted:  # (an interrupt came between the two lines above)
                        cur.clear()
                    yield it
                    cur.clear()  # (all handed out, or put back)
                    continue
                if self._failure is not None:
                    self._raise_failure()
                if ending or self._stopping or self._closed or self._closing:
                    return
                self._unhand()  # (another iterator's list: hand it out before fetching)
                if not buf and not self._fill():
                    ending = True
        finally:
            self._iterating -= 1
            self._unhand()

    def _unhand(self) -> None:
        """Put what iteration took from the buffer but did not hand out back in front.

        The iterator of the current list then ends at its next step, and iteration goes
        on from the buffer. Called before anything that looks at or changes the buffer
        while iteration may be under way (nack, purge, interrupt, close).
        """
        cur = self._cur
        if cur:
            pos = len(cur) - length_hint(self._cur_it)
            rest = cur[pos:]
            del cur[pos:]
            if rest:
                self._buffer[:0] = rest

    def _batches(self) -> Iterator[list[Message]]:
        """Return the messages iteration would hand out, as the lists they are fetched in.

        The runner's way in: no generator step per message. The caller handles the
        messages of a list in order, stops early when ``_halted`` turns true (what it did
        not handle is redelivered later), and acknowledges what it handled with
        :meth:`_ack_batch`. Ends (or raises) like iteration.
        """
        if self._failure is not None:
            self._raise_failure()
        if self._closed or self._closing:
            return iter(())
        return self._batch_loop()

    def _batch_loop(self) -> Iterator[list[Message]]:
        buf = self._buffer
        self._iterating += 1
        try:
            while True:
                if buf:
                    batch = buf[:]
                    buf.clear()  # (only this thread adds; an interrupt only clears)
                    yield batch
                    # the caller is done with it: free the messages before the next fetch
                    # (two batches alive at once would cross the garbage collector's
                    # threshold every time)
                    batch.clear()
                    continue
                if self._failure is not None:
                    self._raise_failure()
                if self._stopping or self._closed or self._closing:
                    return
                if not self._fill():  # the end: what it added is the last batch
                    if buf:
                        batch = buf[:]
                        buf.clear()
                        yield batch
                    if self._failure is not None:
                        self._raise_failure()
                    return
        finally:
            self._iterating -= 1

    def _ack_batch(self, msgs: list[Message], k: int) -> None:
        """Acknowledge the first ``k`` messages of ``msgs`` (a list from :meth:`_batches`).

        As ``ack`` of each in turn, with one ack-barrier mark for all of them.
        """
        if self._closed or self._closing or self._failure is not None:
            self._check_open("ack")
        token = self._token
        tokens = [token(msg) for msg in msgs[:k]]
        marks = BARRIER.marks()
        if not marks and not self._pending:
            self._commit(tokens)
            return
        self._pending.add_all(marks, tokens)
        self._drain_pending()

    def _pause(self, msgs: list[Message]) -> list[Any] | None:
        """Hook: stop fetching more from where ``msgs`` came from (Kafka: partitions).

        For a caller that cannot keep up with part of the input (the runner's lanes):
        returns what it newly paused, to give back to :meth:`_resume` (``[]`` when all
        was paused already), or ``None`` when this consumer cannot pause. What was
        fetched already is still handed out; nothing is skipped or lost.
        """
        return None

    def _resume(self, paused: list[Any]) -> None:
        """Hook: fetch again from what :meth:`_pause` returned (any thread)."""

    def _give_back(self, msgs: list[Message]) -> list[Message]:
        """Hook: ``msgs`` from :meth:`_batches` were not handled (stopping, failing).

        Returns those the caller must handle after all (then give back what of them it
        did not): none here, as unacknowledged messages are consumed again. Standard
        input, which cannot be re-read message by message, overrides it.
        """
        return []

    def _fill(self) -> bool:
        """Hook: wait (a bounded slice) for messages and append them to ``self._buffer``.

        Return False at the end of the stream; True otherwise (also when nothing came).
        """
        raise NotImplementedError

    @property
    def _is_iterating(self) -> bool:
        return self._iterating > 0

    def _interrupt(self) -> None:
        # runs inside the signal handler: only flags and atomic list operations here
        self._stopping = True
        self._halted = True  # no message is handed out after a stop
        self._drop_buffered()
        self._wake()

    def _drop_buffered(self) -> None:
        """Forget the messages taken from the source and not handed out yet.

        They are not acknowledged, so they come again.
        """
        self._cur.clear()  # (the current list's iterator ends at its next step)
        self._buffer.clear()

    def _wake(self) -> None:
        """Hook: wake a blocked ``_fill`` (must not take locks the main thread may hold)."""

    def close(self) -> None:
        """Close the consumer: idempotent; raises a pending fatal error once."""
        self._halted = True
        super().close()

    # -- acks ---------------------------------------------------------------------------

    def ack(self, msg: Message) -> None:
        """Acknowledge ``msg`` (committed once the sends before it are delivered)."""
        if self._closed or self._closing or self._failure is not None:
            self._check_open("ack")
        token = self._token(msg)
        marks = BARRIER.marks()
        if not marks and not self._pending:
            self._commit([token])
            return
        self._pending.add(marks, token)
        self._drain_pending()

    def _drain_pending(self) -> None:
        """Commit the pending acks whose sends are delivered now."""
        if len(self._pending):
            dead = self._pending.drain(self._commit)
            if dead:
                self._report_unreachable(len(dead))

    def _report_unreachable(self, n: int) -> None:
        """Log acks dropped because a send before them failed for good (once a minute)."""
        self._unreachable += n
        now = time.monotonic()
        if now - self._unreachable_logged < 60.0:
            return
        self._log.error(
            "%d acknowledgement(s) will not be committed: a message sent before them was "
            "not delivered (see the producer's errors). The committed position stays before "
            "them; they are consumed again after a restart",
            self._unreachable,
        )
        self._unreachable = 0
        self._unreachable_logged = now

    def _flush_barrier(self, timeout: float | None) -> None:
        """Flush the producers pending acks wait on, then commit what became ready."""
        self._flush_trackers(self._pending.trackers(), timeout)
        self._drain_pending()
        self._report_dropped(len(self._pending.drop_all()))

    def _flush_trackers(self, trackers: Iterable[DeliveryTracker], timeout: float | None) -> None:
        """Flush the producers behind ``trackers``; log (not raise) what fails."""
        for tracker in trackers:
            try:
                tracker.flush(timeout)
            except StreamProcessorError as exc:
                self._log.error(
                    "Could not flush producer %s before committing acknowledgements: %s",
                    tracker.name,
                    exc,
                )

    def _report_dropped(self, n: int) -> None:
        """Log acknowledgements that can never be committed (their sends failed)."""
        if n:
            self._log.error(
                "%d acknowledgement(s) not committed: the messages sent before them were "
                "not delivered; they will be consumed again",
                n,
            )

    def nack(self, msg: Message) -> None:
        """Refuse ``msg``: it is delivered again before later messages."""
        self._check_open("nack")
        self._unhand()  # (the nacked message comes before those not handed out yet)
        self._nack(msg)

    def _token(self, msg: Message) -> Any:
        raise NotImplementedError

    def _commit(self, tokens: list[Any]) -> None:
        raise NotImplementedError

    def _nack(self, msg: Message) -> None:
        raise NotImplementedError

    def backlog(self) -> int:
        """Return the number of messages not yet acknowledged."""
        raise NotImplementedError

    def _describe_unfinished(self) -> str:
        n = len(self._pending)
        return f"{self.client_type} consumer has {n} uncommitted ack(s)" if n else ""


class ProducerBase(ClientBase):
    """Shared producer machinery: a delivery tracker registered with the ack barrier."""

    kind = "producer"
    #: a synchronous producer delivers inside ``send``; the barrier never waits on it
    synchronous = False
    if TYPE_CHECKING:  # what users see; ClientBase.config builds it on first use

        @property
        def config(self) -> ProducerConfig:
            """The client's ``ProducerConfig``."""
        @config.setter
        def config(self, config: ProducerConfig) -> None: ...

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self._tracker = self._new_tracker(
            f"{type(self).__name__}({config.name or 'producer'})", self._barrier_flush
        )
        if not self.synchronous:
            BARRIER.register(self._tracker)

    def _new_tracker(self, name: str, flush: Callable[[float | None], Any]) -> DeliveryTracker:
        """Hook: return the tracker that numbers this producer's sends (called first)."""
        return DeliveryTracker(name=name, flush=flush)

    def _barrier_flush(self, timeout: float | None) -> None:
        if self._closed:
            return
        try:
            self.flush(timeout)
        except ClientClosedError:
            # another thread is closing it, and its close flushes: wait for that
            if self._close_lock.acquire(timeout=-1 if timeout is None else timeout):
                self._close_lock.release()

    def send(self, msg: Message) -> None:
        """Send ``msg``."""
        raise NotImplementedError

    def flush(self, timeout: float | timedelta | None = None) -> None:
        """Wait until everything sent is delivered."""
        raise NotImplementedError

    def close(self) -> None:
        """Flush and close; the ack barrier stops waiting on this producer."""
        try:
            super().close()
        finally:
            BARRIER.unregister(self._tracker)

    def _describe_unfinished(self) -> str:
        n = self._tracker.pending
        return f"{self.client_type} producer has {n} undelivered message(s)" if n else ""
