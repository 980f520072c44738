"""What consumers and producers share: the lifecycle state, errors, interrupts and close."""

from __future__ import annotations

import contextlib
import enum
import logging
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, NoReturn, Self, TypeVar

from streamprocessor.stream.errors import (
    ClientClosedError,
    ManualErrorsDisabledError,
    StreamProcessorError,
)
from streamprocessor.stream.mocks import Channel
from streamprocessor.util.barrier import BARRIER, AckBarrier
from streamprocessor.util.interrupts import COORDINATOR, ShutdownCoordinator

if TYPE_CHECKING:
    from streamprocessor.config.models import ClientConfig

__all__ = [
    "IDLE_HOOKS",
    "ClientFront",
    "ErrorChannel",
    "State",
    "registration_deferred",
    "run_idle_hooks",
    "seconds",
]

#: ``active`` while the async face makes or closes a client on its worker thread: the client
#: registers for interrupts (and unregisters) from the event loop's thread instead
_DEFERRED = threading.local()


@contextlib.contextmanager
def registration_deferred() -> Iterator[None]:
    """Clients made or closed in this block (this thread) do not (un)register for interrupts.

    The async face makes and closes a client on its worker thread (a connect or a flush
    may block) and registers or unregisters it from the event loop's thread, where signal
    handlers can be installed and the ones that were there put back.
    """
    _DEFERRED.active = True
    try:
        yield
    finally:
        _DEFERRED.active = False

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


class State(enum.IntEnum):
    """Where a client is in its life; ordered: a client only ever moves forward."""

    #: working
    OPEN = 0
    #: a consumer after an interrupt: it hands out nothing more; acks still count
    STOPPING = 1
    #: a fatal error is pending (default error handling): the next call raises it
    FAILED = 2
    #: close() is under way
    CLOSING = 3
    #: closed
    CLOSED = 4


class ErrorChannel(Channel):
    """An iterable of a client's errors; iteration ends when the client is closed."""

    def get(self, timeout: float | None = None) -> BaseException | None:
        """Return the next error, or ``None`` at the end or after ``timeout`` seconds."""
        item = super().get(timeout)
        assert item is None or isinstance(item, BaseException)
        return item

    def __iter__(self) -> Iterator[BaseException]:
        return super().__iter__()


#: the config type of a client: ``ConsumerConfig`` or ``ProducerConfig``
ConfigT = TypeVar("ConfigT", bound="ClientConfig")


class ClientFront(Generic[ConfigT]):
    """The lifecycle every client has: one :class:`State`, errors, interrupts, close.

    ``_state`` changes only in :meth:`_enter` (which also sets ``_unusable``, the one flag
    the hot paths read: a client past STOPPING refuses work).
    """

    __slots__ = (
        "__weakref__",
        "_barrier",
        "_close_lock",
        "_config",
        "_coordinator",
        "_errors",
        "_failure",
        "_failure_raised",
        "_log",
        "_registered",
        "_state",
        "_unusable",
    )

    kind = "client"
    #: the registry name of the client type (``inmem``, ``kafka``, …)
    client_type = ""

    def __init__(self, config: ConfigT) -> None:
        self._config = config
        self._log: logging.Logger = config.logger
        self._state = State.OPEN
        #: ``_state >= FAILED``: read on hot paths instead of the state
        self._unusable = False
        self._close_lock = threading.Lock()
        self._failure: BaseException | None = None
        self._failure_raised = False
        self._errors = ErrorChannel()
        self._registered = False
        #: the ack barrier this client joins and the coordinator it registers with
        self._barrier: AckBarrier = config.ack_barrier or BARRIER
        self._coordinator: ShutdownCoordinator = config.interrupt_coordinator or COORDINATOR

    def _enter(self, state: State) -> bool:
        """Move to ``state`` unless the client is there or past it already."""
        if state <= self._state:
            return False
        self._state = state
        self._unusable = state >= State.FAILED
        self._entered(state)
        return True

    def _entered(self, state: State) -> None:
        """Hook of the consumer and producer fronts: what changes with the state."""

    @property
    def config(self) -> ConfigT:
        """The client's ``ConsumerConfig`` or ``ProducerConfig``."""
        return self._config

    @config.setter
    def config(self, config: ConfigT) -> None:
        self._config = config

    @property
    def log(self) -> logging.Logger:
        """The client's logger (``config.logger``)."""
        return self._log

    @property
    def coordinator(self) -> ShutdownCoordinator:
        """The interrupt coordinator this client registers with."""
        return self._coordinator

    @property
    def closed(self) -> bool:
        """Whether the client is closed."""
        return self._state is State.CLOSED

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
        """Report a fatal client error (from any thread; ports call it).

        Default handling: the client stops its work, closes at the next call and raises
        ``exc`` there (whoever catches it reports it: the runner logs it once, at ERROR;
        here it is DEBUG). Manual handling: ``exc`` goes to ``errors()``; the client stays
        open.
        """
        if not self._config.handle_errors:
            self._errors.put(exc)
            return
        if self._failure is None:
            self._failure = exc
            self._log.debug(
                "Error received from streamclient: %s", exc, extra={"client": self.client_type}
            )
            self._enter(State.FAILED)

    def _raise_pending(self) -> None:
        """Raise a pending fatal error once, after closing the client cleanly."""
        if self._failure is not None and not self._failure_raised:
            self._failure_raised = True
            exc = self._failure
            with contextlib.suppress(StreamProcessorError):
                self.close()
            raise exc

    def _check(self, what: str) -> None:
        """The slow path of every call once the client is unusable: raise why."""
        self._raise_pending()
        if self._state >= State.FAILED:
            raise ClientClosedError(
                f"cannot {what}: this {self.client_type} {self.kind} is closed "
                f"(create a new one with streamprocessor.new_{self.kind}())"
            )

    # -- interrupts ---------------------------------------------------------------------

    def _register_interrupts(self) -> None:
        if getattr(_DEFERRED, "active", False):
            return  # (the async face registers the client from its loop's thread)
        if self._config.handle_interrupt and not self._registered:
            self._registered = self._coordinator.register(self)

    def _unregister_interrupts(self) -> None:
        if self._registered and not getattr(_DEFERRED, "active", False):
            self._registered = False
            self._coordinator.unregister(self)

    def interrupt(self) -> None:
        """Stop as on a first SIGTERM: a consumer hands out no new message.

        What its loop already holds is finished; iteration then ends. Safe inside a signal
        handler and from any thread.
        """

    def unfinished(self) -> str:
        """Say what is not flushed or committed yet ("" when nothing is)."""
        return ""

    def save_before_exit(self) -> None:
        """Save what can be saved before the shutdown timeout ends the process.

        Runs in the coordinator's thread while the application may still be busy; bounded
        by the caller, so it may block (e.g. on a stalled standard output).
        """

    @property
    def iterating(self) -> bool:
        """Whether a loop over this client is under way, or it is closing."""
        return self._state is State.CLOSING

    @property
    def shutdown_timeout(self) -> float:
        """Seconds this client may take to flush and commit after a signal."""
        return float(self._config.shutdown_timeout.total_seconds())

    # -- close --------------------------------------------------------------------------

    def close(self) -> None:
        """Close the client: idempotent; raises a pending fatal error once."""
        with self._close_lock:
            if self._state is State.CLOSED:
                return
            self._enter(State.CLOSING)
            try:
                self._close()
            finally:
                self._enter(State.CLOSED)
                self._errors.close()
                self._unregister_interrupts()
        if self._failure is not None and not self._failure_raised:
            self._failure_raised = True
            raise self._failure

    def _close(self) -> None:
        """Hook of the fronts: flush, commit, close the port. Called once."""

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

    def __aenter__(self) -> NoReturn:
        raise TypeError(self._not_async("async with", "with"))

    def __aexit__(self, *exc: Any) -> NoReturn:
        raise TypeError(self._not_async("async with", "with"))

    def _not_async(self, used: str, instead: str) -> str:
        return (
            f"this {self.client_type} {self.kind} is synchronous and cannot be used with "
            f"`{used}`: use `{instead}`, or make an async one with "
            f"streamprocessor.new_async_{self.kind}()"
        )

    def __repr__(self) -> str:
        state = "closed" if self._state is State.CLOSED else "open"
        name = f" {self._config.name!r}" if self._config.name else ""
        return f"<{type(self).__name__}{name} {state}>"
