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
from collections.abc import Callable
from datetime import timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from streamprocessor.clients.front.client import (
    ErrorChannel,
)
from streamprocessor.config.defaults import DefaultConfig
from streamprocessor.stream.errors import (
    ClientClosedError,
    ManualErrorsDisabledError,
    StreamProcessorError,
)
from streamprocessor.stream.message import Message
from streamprocessor.util.barrier import BARRIER, AckBarrier, DeliveryTracker
from streamprocessor.util.interrupts import COORDINATOR, ShutdownCoordinator

if TYPE_CHECKING:
    from streamprocessor.config.models import ProducerConfig

__all__ = ["ClientBase", "ProducerBase"]

_MATERIALIZE = threading.Lock()  # one thread builds a client's real config


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
        #: the ack barrier this client joins and the coordinator it registers with
        self._barrier: AckBarrier = config.ack_barrier or BARRIER
        self._coordinator: ShutdownCoordinator = config.interrupt_coordinator or COORDINATOR

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

    def fail(self, exc: BaseException) -> None:
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
            self._registered = self._coordinator.register(self)

    def _unregister_interrupts(self) -> None:
        if self._registered:
            self._registered = False
            self._coordinator.unregister(self)

    def interrupt(self) -> None:
        """Stop as on a first SIGTERM: a consumer hands out no new message.

        What its loop already holds is finished; iteration then ends. Safe inside a signal
        handler and from any thread.
        """
        self._interrupt()

    def unfinished(self) -> str:
        """Say what is not flushed or committed yet ("" when nothing is)."""
        return self._describe_unfinished()

    def save_before_exit(self) -> None:
        """Save what can be saved before the shutdown timeout ends the process.

        Runs in the coordinator's thread while the application may still be busy; bounded
        by the caller, so it may block (e.g. on a stalled standard output).
        """
        self._before_exit()

    @property
    def iterating(self) -> bool:
        """Whether a loop over this client is under way, or it is closing."""
        return self._is_iterating or self._closing

    @property
    def shutdown_timeout(self) -> float:
        """Seconds this client may take to flush and commit after a signal."""
        return float(self._config.shutdown_timeout.total_seconds())

    def _interrupt(self) -> None:
        """Hook: stop (runs in a signal handler: flags and atomic list operations only)."""

    def _describe_unfinished(self) -> str:
        """Hook: say what is not flushed/committed yet (for the shutdown watchdog)."""
        return ""

    def _before_exit(self) -> None:
        """Hook: see :meth:`save_before_exit`."""

    @property
    def _is_iterating(self) -> bool:
        return False

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


class ProducerBase(ClientBase):
    """Shared producer machinery: a delivery tracker registered with the ack barrier."""

    kind = "producer"
    #: a synchronous producer delivers inside ``send``; the barrier never waits on it
    synchronous = False
    #: ``send`` refuses a message whose value, key, timestamp, tags or producer_topic has
    #: the wrong type with InvalidMessageError before sending anything (the runner need
    #: not check them)
    checks_fields = False

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
            self._barrier.register(self._tracker)

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
            self._barrier.unregister(self._tracker)

    def _describe_unfinished(self) -> str:
        n = self._tracker.pending
        return f"{self.client_type} producer has {n} undelivered message(s)" if n else ""
