"""One process-wide shutdown coordinator for SIGINT, SIGTERM and SIGQUIT.

Clients with interrupt handling on (the default) register here. The first signal makes
every registered consumer stop taking new messages: its iteration ends once what it
already took from its source is handed out, the application's loop finishes the message in
hand, and its ``with`` blocks flush and commit. The program then ends normally (status 0).
A watchdog ends the process with status 1 if that takes longer than the shutdown timeout,
after writing the output already handled (as far as the output accepts writes); a second
SIGINT ends it with status 1 at once. When no consumer is being iterated the
signal is Python's usual ``KeyboardInterrupt`` (SIGINT) or ``SystemExit`` (SIGTERM,
SIGQUIT), so ``with`` blocks still close the clients.

Signal handlers exist only in the main thread: a client created in another thread logs
that and skips them. Async clients register here too (from their event loop's thread):
the first signal wakes their loops and ends their iterations; asyncio's own SIGINT
handler (``asyncio.run`` cancelling its main task) is the previous handler, called only
when no consumer is being iterated, as Python would without us. The previous handlers
come back when the last client closes. POSIX only. Only the process-wide
:data:`COORDINATOR` installs handlers; a coordinator made by a program or a test
(``options.interrupt_coordinator``) is driven by its owner's :meth:`ShutdownCoordinator.stop`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any, Protocol

__all__ = ["COORDINATOR", "Interruptible", "ShutdownCoordinator"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT)
_log = logging.getLogger("streamprocessor")
#: after the shutdown timeout, seconds to wait for the clients' last writes while they make
#: no progress (a stalled output), and in all
_SAVE_STALL = 1.0
_SAVE_MAX = 30.0


class Interruptible(Protocol):
    """What the coordinator needs of a client (every client of the library is one)."""

    def interrupt(self) -> None:
        """Stop as on a first signal: called inside a signal handler, so no locks, no IO."""
        ...

    def unfinished(self) -> str:
        """Say what is not flushed or committed yet ("" when nothing is)."""
        ...

    def save_before_exit(self) -> None:
        """The shutdown timeout ends the process: save what can be (may block, bounded)."""
        ...

    @property
    def iterating(self) -> bool:
        """Whether a loop over this client is under way (or it is closing)."""
        ...

    @property
    def shutdown_timeout(self) -> float:
        """Seconds the client may take to flush and commit after a signal."""
        ...


class ShutdownCoordinator:
    """Fans a shutdown out to the clients registered with it.

    ``signals=True`` (the process-wide :data:`COORDINATOR` only) installs the handlers of
    SIGINT, SIGTERM and SIGQUIT while clients are registered; any other coordinator never
    touches a signal handler and is stopped by its owner with :meth:`stop`.
    """

    def __init__(self, *, signals: bool = False) -> None:
        self.signals = signals
        self._lock = threading.RLock()
        self._clients: list[Interruptible] = []
        self._previous: dict[int, Any] = {}
        self._installed = False
        self.interrupted: signal.Signals | None = None
        #: the consumers were stopped because the output went away (see stop_consumers)
        self.output_gone = False
        self._watchdog: threading.Timer | None = None
        self._rfd = -1
        self._wfd = -1
        self.exit: Callable[[int], None] = os._exit  # replaced in tests
        #: called before the clients' ``save_before_exit`` when the shutdown timeout ends the
        #: process (the runner says there which messages it did not finish)
        self.exit_hooks: list[Callable[[], None]] = []

    # -- registration -------------------------------------------------------------------

    def register(self, client: Interruptible) -> bool:
        """Register ``client``; install the handlers if needed. False off the main thread."""
        if not self.signals:
            with self._lock:
                self._clients.append(client)
                if self.interrupted is not None:
                    client.interrupt()
            return True
        if threading.current_thread() is not threading.main_thread():
            _log.info(
                "Client created outside the main thread: signal handling skipped "
                "(Python runs signal handlers in the main thread only)."
            )
            return False
        with self._lock:
            self._clients.append(client)
            if not self._installed:
                self._install()
            if self.interrupted is not None:
                client.interrupt()  # a client opened during shutdown stops at once
        return True

    def unregister(self, client: Interruptible) -> None:
        """Forget ``client``; restore the previous handlers after the last one."""
        with self._lock:
            self._clients = [c for c in self._clients if c is not client]
            if not self._clients:
                if self._watchdog is not None:
                    self._watchdog.cancel()
                    self._watchdog = None
                if self._installed and threading.current_thread() is threading.main_thread():
                    self._uninstall()

    def wakeup_fd(self) -> int:
        """Return a file descriptor that becomes readable on the first signal."""
        with self._lock:
            if self._rfd < 0:
                self._rfd, self._wfd = os.pipe()
                os.set_blocking(self._wfd, False)
                if self.interrupted is not None:
                    os.write(self._wfd, b"x")
            return self._rfd

    def reset(self) -> None:
        """Forget a past interrupt (tests and long-lived programs that open clients again).

        Its shutdown deadline goes with it: the watchdog it started is cancelled.
        """
        with self._lock:
            self.interrupted = None
            self.output_gone = False
            if self._watchdog is not None:
                self._watchdog.cancel()
                self._watchdog = None
            if self._rfd >= 0:
                os.set_blocking(self._rfd, False)
                try:
                    while os.read(self._rfd, 64):
                        pass
                except BlockingIOError:
                    pass
                os.set_blocking(self._rfd, True)

    def stop_consumers(self) -> bool:
        """Stop every registered client as a first signal would, without a signal.

        For a client that finds the program cannot usefully go on — standard output
        closed under ``| head`` — and wants the consumers to end their loops cleanly.
        Returns whether one of the registered clients is being iterated (its loop then
        ends by itself); when none is, the caller must end the program its own way.
        """
        self.output_gone = True  # (input then dropped is not worth a warning)
        with self._lock:
            clients = list(self._clients)
        for c in clients:
            c.interrupt()
        return any(c.iterating for c in clients)

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """Stop the registered clients as the first ``sig`` would (without a signal).

        What the signal handler does, for a coordinator that installs none: consumers stop
        handing out messages, and the shutdown timeout starts (past it, the process ends
        with status 1 saying what was not flushed). A second call does nothing.
        """
        with self._lock:
            if self.interrupted is not None:
                return
            self.interrupted = sig
            clients = list(self._clients)
        self._fan_out(sig, clients)

    # -- handlers -----------------------------------------------------------------------

    def _install(self) -> None:
        for sig in _SIGNALS:
            self._previous[sig] = signal.getsignal(sig)
            signal.signal(sig, self._handle)
        self._installed = True

    def _uninstall(self) -> None:
        for sig, prev in self._previous.items():
            # restore only when ours is still in place (someone may have replaced it)
            if signal.getsignal(sig) == self._handle:
                signal.signal(sig, prev if prev is not None else signal.SIG_DFL)
        self._previous.clear()
        self._installed = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        sig = signal.Signals(signum)
        if self.interrupted is not None:
            if sig == signal.SIGINT:
                # (logging's handler lock is reentrant: safe in a signal handler)
                _log.critical("Second interrupt: exiting immediately (status 1).")
                self.exit(1)
            return
        self.interrupted = sig
        with self._lock:
            clients = list(self._clients)
        if self._wfd >= 0:
            with contextlib.suppress(OSError):
                os.write(self._wfd, b"x")
        # a client that is closing (flushing, committing) must not be cut short by an
        # exception raised into it: treat that like a consume loop in progress
        if not any(c.iterating for c in clients):
            # nobody is in a consume loop: behave like Python does without us — the
            # handler that was there (asyncio.run's cancels its main task), else Python's
            self.interrupted = None
            previous = self._previous.get(sig)
            if callable(previous) and previous is not signal.default_int_handler:
                previous(signum, frame)
                return
            if sig == signal.SIGINT:
                raise KeyboardInterrupt
            raise SystemExit(128 + signum)
        _log.info(
            "Got interrupt signal, cleaning up. Use ^C to exit immediately.",
            extra={"signal": sig.name},
        )
        self._fan_out(sig, clients)

    def _fan_out(self, sig: signal.Signals, clients: list[Interruptible]) -> None:
        timeout = max((c.shutdown_timeout for c in clients), default=10.0)
        for c in clients:
            c.interrupt()
        self._start_watchdog(timeout, clients, sig)

    def _start_watchdog(
        self, timeout: float, clients: list[Interruptible], sig: signal.Signals
    ) -> None:
        def fire() -> None:
            with self._lock:
                clients = list(self._clients)
            left = self._save(clients)
            details = "; ".join(d for d in left if d) or "clients still open"
            _log.critical(
                "Timed out after %gs while shutting down after %s: %s. Exiting with status "
                "1. Raise the shutdown timeout (options.shutdown_timeout or "
                "*_SHUTDOWN_TIMEOUT) if flushing needs longer.", timeout, sig.name, details
            )
            for h in logging.getLogger().handlers:
                with contextlib.suppress(Exception):
                    h.flush()
            self.exit(1)

        t = threading.Timer(timeout, fire)
        t.daemon = True
        t.name = "streamprocessor-shutdown-watchdog"
        self._watchdog = t
        t.start()


    def _save(self, clients: list[Interruptible]) -> list[str]:
        """Let the clients save what they can (write handled output); say what is left.

        In a thread, waited for while what is left changes (a slow output still takes
        writes) and for at most ``_SAVE_MAX`` seconds: a blocked write cannot hold up the
        exit.
        """
        def save() -> None:
            for hook in (*self.exit_hooks, *(c.save_before_exit for c in clients)):
                try:
                    hook()
                except Exception as exc:  # the exit goes on; say why something is left
                    _log.error("Saving state before exiting failed: %s", exc)

        t = threading.Thread(target=save, daemon=True, name="streamprocessor-save-on-exit")
        t.start()
        deadline = time.monotonic() + _SAVE_MAX
        left = [c.unfinished() for c in clients]
        while True:
            t.join(_SAVE_STALL)
            now = [c.unfinished() for c in clients]
            if not t.is_alive() or now == left or time.monotonic() > deadline:
                return now
            left = now


#: the process-wide coordinator: the only one that installs signal handlers
COORDINATOR = ShutdownCoordinator(signals=True)
