"""The standard-stream producer: each message's value as one line on stdout or any writer.

``send`` appends the value to a private list (no lock, no syscall); the list is written
as one block when it holds enough, when a consumer is about to wait for input (the idle
hook), on ``flush()``, on ``close()``, and by a timer thread at least every
``FLUSH_INTERVAL`` while output is pending (a slow handler: the input never pauses).
Output is thus written in large blocks for bulk input and at once for a person typing,
whatever ``PYTHONUNBUFFERED`` says: standard
output is written with ``os.write`` on file descriptor 1, after ``sys.stdout.flush()`` so
that ``print()`` output written before stays before.

A closed standard output (``| head -1``) is not an error: the rest of the output is
discarded, ``/dev/null`` takes the place of file descriptor 1 (so nothing fails again at
exit), every consumer of the process stops as it would on SIGTERM, and the program ends
with status 0 — when no consumer is being iterated, the next ``send``/``flush`` raises
``SystemExit(0)``.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import os
import select
import sys
import threading
import time
import weakref
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from streamprocessor.clients.front import IDLE_HOOKS, ProducerFront
from streamprocessor.clients.ports import SinkLink
from streamprocessor.clients.validation import SentNames, refusal
from streamprocessor.stream.errors import ClientError
from streamprocessor.stream.message import Message
from streamprocessor.util.barrier import DeliveryTracker, RefusedSend

if TYPE_CHECKING:
    from streamprocessor.config.models import ProducerConfig

__all__ = ["FLUSH_INTERVAL", "FLUSH_SIZE", "StandardstreamProducer", "StandardstreamSink"]

#: write once this many bytes are buffered
FLUSH_SIZE = 64 * 1024
#: seconds output may stay buffered at most (the timer thread's period)
FLUSH_INTERVAL = 0.1

_NL = b"\n"
_GONE = (errno.EPIPE, errno.ECONNRESET)

# open producers, flushed at interpreter exit when the application did not close them
_OPEN: weakref.WeakSet[StandardstreamSink] = weakref.WeakSet()
_atexit_registered = False
# taken by the sends of producers that share their output with another one (see _in_order)
_ORDER_LOCK = threading.Lock()
# the timer thread (None: not running; it ends when no producer is open)
_timer: threading.Thread | None = None
_TIMER_LOCK = threading.Lock()


def _encode(chunk: list[bytes]) -> bytes:
    r"""Return the lines of ``chunk``: each value plus ``\n`` unless it ends with one."""
    if _NL not in b"".join(chunk):  # the common case: no value holds a newline
        chunk.append(b"")
        return _NL.join(chunk)
    return b"".join([v if v[-1:] == _NL else v + _NL for v in chunk])


class StandardstreamSink:
    """One line per message on a binary writer (None: the process's stdout).

    The writer is ``config.standardstream.writer`` (a binary file object) or, when that
    is ``None``, the process's standard output (file descriptor 1). Neither is closed by
    :meth:`close`; both are flushed.
    """

    synchronous = False

    def __init__(self, config: ProducerConfig, link: SinkLink) -> None:
        self._link = link
        self._log = link.log
        self._names = SentNames()
        self._closed = False
        self._closing = False
        writer = config.standardstream.writer
        self._writer: Any = writer
        self._fd = 1 if writer is None else -1
        self._stdout = writer is None or _fileno(writer) == 1
        # values sent and not written yet; None once closed, failed or broken, which
        # sends notice as an AttributeError on their fast path
        self._parts: list[bytes] | None = []
        self._taken = 0  # values removed from _parts by writes (or dropped)
        self._size = 0  # bytes in _parts (about: updated without a lock)
        self._lock = threading.Lock()  # _parts trimming + _taken, for the tracker
        self._write_lock = threading.Lock()  # one writer at a time keeps blocks in order
        self._broken = False
        self._consumers_stopping = False
        self._shared = False  # another producer writes to the same output
        #: what this producer writes to: lines of producers with the same output keep
        #: the order they were sent in
        self._output: object = 1 if self._stdout else writer
        #: sends are counted by the buffer (values written + values in it): ``send``
        #: costs no counter update; ``confirmed`` advances after each successful write
        self.tracker: DeliveryTracker | None = DeliveryTracker(
            f"StandardstreamProducer({config.name or 'producer'})",
            self._barrier_flush,
            count=self._sent_count,
        )
        IDLE_HOOKS.append(self._idle)
        with _ORDER_LOCK:
            shared = [p for p in _OPEN if p._output is self._output and not p._closed]
            _OPEN.add(self)
        if shared:
            for p in (*shared, self):
                p._in_order()
        _start_timer()
        if self._stdout:
            _register_atexit()

    def _in_order(self) -> None:
        """Keep the order of lines across the producers that write to this output.

        Each keeps its own buffer; before one buffers a line, the others write what they
        hold, so at most one of them holds lines at any time (with DRY_RUN, a router's
        outputs then appear in the order the handler sent them). Only producers that share
        their output take this slower ``send``.
        """
        self._shared = True
        self._link.replace_send(self._send_in_order)

    def _send_in_order(self, msg: Message) -> None:
        with _ORDER_LOCK:
            for p in list(_OPEN):
                if p is not self and p._output is self._output and p._parts:
                    p._write_buffered(raise_errors=False)
            self.send(msg)

    # -- sending ------------------------------------------------------------------------

    def send(self, msg: Message) -> None:
        """Buffer ``msg.value`` as one line (``None`` writes an empty line).

        A ``Message`` another producer would refuse is refused here too, although only
        its value is written. A consumed message (a subclass whose fields are class
        attributes or built on first read) has only its value checked: reading the other
        fields makes a stdin → stdout pipe about a fifth slower.
        """
        try:
            v = msg.value
            parts = self._parts
            if v.__class__ is not bytes or (
                msg.__class__ is Message
                and (
                    ((ts := msg.timestamp) is not None and ts.__class__ is not datetime)
                    or msg.producer_topic
                    or ((k := msg.key) is not None and k.__class__ is not bytes)
                    or (t := msg.tags)
                    or t.__class__ is not dict
                )
            ):
                v = self._other_value(msg)
            parts.append(v)  # type: ignore[union-attr]  # None: the slow path below
        except AttributeError:
            self._send_refused(msg)
            return
        # not atomic across threads: a lost update only delays a write a little
        size = self._size + len(v)
        self._size = size
        if size >= FLUSH_SIZE:
            self._write_buffered(raise_errors=True)

    def send_nowait(self, msg: Message) -> bool:
        """``send`` unless it would write a block (which may block): False then, not sent."""
        v = getattr(msg, "value", None)
        if v.__class__ is bytes and self._size + len(v) >= FLUSH_SIZE:
            return False
        self.send(msg)
        return True

    def _other_value(self, msg: Message) -> bytes:
        self._names.check(msg)
        v = msg.value
        return b"" if v is None else bytes(v)  # (a tombstone is an empty line)

    def _send_refused(self, msg: object) -> None:
        """The slow path of ``send``: broken, failed, or not a message."""
        if self._broken:
            self._after_broken()
            return
        if self._parts is None:  # failed: the front raises why
            self._link.raise_failure()
        raise refusal(msg)

    def on_refused(self, callback: Callable[[RefusedSend], None] | None) -> None:
        """Nothing to register: a failed write fails the producer."""

    def flush(self, timeout: float | None) -> None:
        """Write everything sent so far (writes block; ``timeout`` is not enforced)."""
        if self._broken:
            self._after_broken()
            return
        self._write_buffered(raise_errors=True)
        if self._broken:
            self._after_broken()

    def _barrier_flush(self, timeout: float | None) -> None:
        # a consumer closing: write what its acks wait for, never raise into its close
        if not self._closed:
            self._write_buffered(raise_errors=False)

    def _idle(self) -> None:
        """Idle hook: a consumer is about to wait for input; write what is buffered."""
        if self._parts:
            self._write_buffered(raise_errors=False)
        if self._broken and not self._closing:
            self._after_broken(from_hook=True)

    def _timed_flush(self) -> None:
        """Timer thread: write what is buffered (in order with producers sharing the output)."""
        if self._shared:
            with _ORDER_LOCK:
                self._idle()
        else:
            self._idle()

    def _sent_count(self) -> int:
        with self._lock:
            parts = self._parts
            return self._taken + (len(parts) if parts else 0)


    # -- writing ------------------------------------------------------------------------

    def _write_buffered(self, raise_errors: bool) -> None:
        """Write the buffered values as one block; report a failure per the config."""
        with self._write_lock:
            with self._lock:
                parts = self._parts
                n = len(parts) if parts else 0
                if not n:
                    return
                assert parts is not None
                chunk = parts[:n]
                del parts[:n]  # sends from other threads append behind; never lost
                self._taken += n
                self._size = 0
                upto = self._taken
            data = _encode(chunk)
            try:
                self._write(data)
            except OSError as exc:
                self._write_failed(exc)
            else:
                assert self.tracker is not None
                self.tracker.confirm_upto(upto)
                return
        # outside the write lock: raising closes the client, which writes what is left
        if raise_errors:
            self._link.raise_failure()

    def _write(self, data: bytes) -> None:
        fd = self._fd
        if fd >= 0:
            out = sys.stdout
            if out is not None:
                with contextlib.suppress(Exception):
                    out.flush()  # print() output written before ours stays before
            view = memoryview(data)
            while view:
                try:
                    view = view[os.write(fd, view) :]
                except BlockingIOError:  # someone made the descriptor non-blocking
                    select.select([], [fd], [])
            return
        w = self._writer
        view = memoryview(data)
        while view:
            n = w.write(view)
            if n is None:  # a non-blocking raw writer that took nothing
                select.select([], [_fileno(w)], [])
                continue
            view = view[n:]
        flush = getattr(w, "flush", None)
        if flush is not None:
            flush()

    def _write_failed(self, exc: OSError) -> None:
        if exc.errno in _GONE and self._stdout:
            self._become_broken()
            return
        if self._closing:
            self._log.error("Could not write to stream while closing: %s", exc)
        err = ClientError(f"unable to write message to stream: {exc}")
        err.__cause__ = exc
        self._link.fail(err)
        if not self._closing and self._link.failed:
            self._parts = None  # sends take the slow path and raise the failure

    # -- a closed standard output -------------------------------------------------------

    def _become_broken(self) -> None:
        """Standard output is closed: discard output from now on and stop the consumers."""
        self._broken = True
        self._parts = None
        _silence_stdout()
        self._log.debug("Standard output is closed: discarding further output and stopping.")
        self._consumers_stopping = self._link.coordinator.stop_consumers()

    def _after_broken(self, from_hook: bool = False) -> None:
        """Called by every send/flush once stdout is closed: end the program quietly.

        While a consumer stops (it was interrupted and its loop ends by itself), the
        output is discarded; with no consumer to stop, the program ends here with
        status 0, as a Unix tool does when its reader goes away.
        """
        if self._consumers_stopping and self._link.coordinator.stop_consumers():
            return
        if from_hook and not _is_main_thread():
            return
        raise SystemExit(0)

    # -- close --------------------------------------------------------------------------

    def close(self, timeout: float) -> None:
        """Write what is buffered (writes block) and stop taking part in the timer."""
        self._closing = True
        with contextlib.suppress(ValueError):
            IDLE_HOOKS.remove(self._idle)
        if not self._broken:
            self._write_buffered(raise_errors=False)
        with self._lock:
            self._parts = None
        self._closed = True
        _OPEN.discard(self)

    def unfinished(self) -> str:
        """Say how many handled lines are not written (an output that takes no writes)."""
        assert self.tracker is not None
        n = self._sent_count() - self.tracker.confirmed
        if n <= 0:
            return ""
        return (
            f"standardstream producer could not write {n} handled line(s) (its output "
            "does not take writes)"
        )

    def save_before_exit(self) -> None:
        """The shutdown timeout ends the process: write what was handled (may block)."""
        if not self._broken and not self._closed:
            self._write_buffered(raise_errors=False)


class StandardstreamProducer(ProducerFront):
    """Producer writing one line per message (see the package docstring for details).

    The writer is ``config.standardstream.writer`` (a binary file object) or, when that
    is ``None``, the process's standard output (file descriptor 1). Neither is closed by
    :meth:`close`; both are flushed.
    """

    client_type = "standardstream"

    def __init__(self, config: ProducerConfig) -> None:
        super().__init__(config, lambda link: StandardstreamSink(config, link))

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        writer = self._config.standardstream.writer
        sink = "stdout" if writer is None else type(writer).__name__
        return f"<{type(self).__name__} {sink} {state}>"


def _fileno(w: Any) -> int:
    try:
        fd = w.fileno()
    except (AttributeError, OSError, ValueError):
        return -1
    return fd if isinstance(fd, int) else -1


def _is_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _silence_stdout() -> None:
    """Put /dev/null on file descriptor 1: later writes (print, exit flush) succeed."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:  # pragma: no cover - no /dev/null
        return
    try:
        os.dup2(devnull, 1)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(devnull)


def _start_timer() -> None:
    """Start the timer thread unless it runs (called after a producer joined ``_OPEN``)."""
    global _timer
    with _TIMER_LOCK:
        if _timer is None:
            _timer = threading.Thread(
                target=_write_pending, name="sp-standardstream-flush", daemon=True
            )
            _timer.start()


def _write_pending() -> None:
    """Every ``FLUSH_INTERVAL``, write what open producers buffer; end when none is open.

    A thread rather than a clock read per ``send``: the fast path stays free of syscalls,
    and a tick that finds nothing buffered costs one look at each open producer.
    """
    global _timer
    while True:
        time.sleep(FLUSH_INTERVAL)
        with _TIMER_LOCK:
            producers = [p for p in list(_OPEN) if not p._closed]
            if not producers:
                _timer = None
                return
        for p in producers:
            if p._parts:
                with contextlib.suppress(Exception):  # failures reach the producer's caller
                    p._timed_flush()
        del producers  # (no reference kept while sleeping: unclosed producers can go)


def _flush_at_exit() -> None:
    """Write what open producers still buffer; survive a closed standard output."""
    for p in list(_OPEN):
        with contextlib.suppress(Exception):
            p._write_buffered(raise_errors=False)
    out = sys.stdout
    if out is None:
        return
    try:
        out.flush()
    except OSError as exc:  # Python would report "Exception ignored" and exit 120
        if exc.errno in _GONE:
            _silence_stdout()
    except ValueError:
        pass


def _register_atexit() -> None:
    global _atexit_registered
    if not _atexit_registered:
        _atexit_registered = True
        atexit.register(_flush_at_exit)

