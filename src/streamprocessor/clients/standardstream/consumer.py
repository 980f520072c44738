"""The standard-stream consumer: one message per line of stdin or of any binary reader.

Speed: the input is read in large blocks (``os.read`` on the file descriptor when the
reader is a plain file object) and split in C; a message object is built only when the
iterator hands the line out, and every message of a block shares the block's read time
(one ``datetime`` per block, immutable, so sharing it is safe). The hot loop makes no
call besides building the message.

Promptness and signals: before it would block on a pipe, socket or terminal the consumer
runs the idle hooks (buffered producers such as the stdout producer flush there), and it
waits in ``poll`` on the input together with a wake-up pipe, so a signal or a ``close()``
from another thread ends the wait at once.
"""

from __future__ import annotations

import contextlib
import os
import select
import stat
import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, NoReturn

from streamprocessor.clients.base import ConsumerBase, run_idle_hooks
from streamprocessor.clients.standardstream.lines import (
    Lease,
    LineMessage,
    max_line_size_variable,
    strip_cr,
    usable_fd,
)
from streamprocessor.stream.errors import ClientError, LineTooLongError
from streamprocessor.stream.message import Message

__all__ = ["BLOCK_SIZE", "StandardstreamConsumer", "max_line_size_variable"]

#: bytes asked for per read: large enough to amortise the per-block work, small enough
#: that a block's lines stay in the CPU cache while they are handed out
BLOCK_SIZE = 64 * 1024

_NL = b"\n"
_CR = b"\r"
_READ_WAIT = 1.0  # seconds close() waits for a read of the input in progress


def _line_messages(new: Any, lines: Iterable[bytes], ts: datetime | None) -> list[Message]:
    """Return the messages of ``lines`` (``new``: the consumer's message class)."""
    out: list[Message] = []
    append = out.append
    for line in lines:
        m = new()
        m.value = line
        m.timestamp = ts
        append(m)
    return out


class StandardstreamConsumer(ConsumerBase):
    """Consumer of newline-delimited messages (see the package docstring for its behaviour).

    The reader is ``config.standardstream.reader`` (a binary file object) or, when that
    is ``None``, the process's standard input (file descriptor 0). Neither is closed by
    :meth:`close`: the caller owns them.
    """

    # this client's own state lives in slots: fast to reach from the hot loop, and it
    # keeps the base's instance dict small enough for CPython's shared-key layout
    __slots__ = (
        "_eof",
        "_fd",
        "_lease",
        "_line_type",
        "_lineno",
        "_lines",
        "_max",
        "_pending_error",
        "_poll",
        "_read_lock",
        "_read_obj",
        "_reader",
        "_release_lock",
        "_rest",
        "_rest_len",
        "_ts",
        "_wake_r",
        "_wake_w",
    )

    client_type = "standardstream"
    #: a line taken from a pipe cannot be put back: after an interrupt, hand out what
    #: was read, then end
    _drain_on_stop = True

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        section = config.standardstream
        self._max: int = section.max_line_size
        self._reader: Any = section.reader
        self._fd = usable_fd(self._reader)
        # poll only what can block: pipes, sockets, terminals (not regular files)
        self._poll: Any = None
        self._wake_r = self._wake_w = -1
        try:
            mode = os.fstat(self._fd).st_mode if self._fd >= 0 else 0
        except OSError as exc:
            what = "standard input" if self._reader is None else "the reader"
            raise ClientError(f"cannot read {what}: {exc} (is it closed?)") from exc
        if self._fd >= 0 and not stat.S_ISREG(mode):
            self._wake_r, self._wake_w = os.pipe()
            os.set_blocking(self._wake_w, False)
            self._poll = select.poll()
            self._poll.register(self._fd, select.POLLIN | select.POLLPRI)
            self._poll.register(self._wake_r, select.POLLIN)
        self._read_obj: Any = None
        if self._fd < 0:
            r = self._reader
            self._read_obj = getattr(r, "read1", None) or r.read
        # the partial line at the end of the last block, as pieces (a long line spans
        # several blocks; joining once avoids quadratic copying)
        self._rest: list[bytes] = []
        self._rest_len = 0
        self._lineno = 0  # lines handed out from input so far
        self._eof = False
        self._pending_error: ClientError | None = None
        self._lines: list[bytes] = []  # the block being handed out; cleared on close
        self._ts: datetime | None = None  # when the current block was read
        self._release_lock = threading.Lock()
        self._read_lock = threading.RLock()  # (re-entrant: close() from a signal handler)
        # the opaque value of every message handed out; ack/nack check it in one
        # comparison, and close() ends the lease so they take the slow path and refuse
        self._lease: Lease | None = Lease(self)
        #: the class of the messages handed out (None once closed: acks take the slow path)
        self._line_type: type[LineMessage] | None = type(
            "LineMessage", (LineMessage,), {"__slots__": (), "_opaque": self._lease}
        )
        self._register_interrupts()

    # -- iteration ----------------------------------------------------------------------

    def _iterate(self) -> Iterator[Message]:
        buf = self._buffer  # messages given back with nack()
        new = self._line_type
        if new is None:
            return
        self._iterating += 1
        rest: Iterator[bytes] = iter(())  # the lines of the block not handed out yet
        ts = self._ts
        try:
            while True:
                if buf:
                    while buf:
                        yield buf.pop(0)
                lines = self._next_lines()
                if lines is None:
                    if buf:
                        continue
                    return
                self._lines = lines
                ts = self._ts
                rest = iter(lines)  # (close clears the list: this loop then ends)
                for line in rest:
                    if buf:
                        while buf:
                            yield buf.pop(0)
                    m = new()
                    m.value = line
                    m.timestamp = ts
                    yield m
        finally:
            # an iterator left early (``break``): a later one hands out the rest of the
            # block — those lines were read from the stream and cannot be read again
            buf.extend(_line_messages(new, rest, ts))
            self._iterating -= 1
            if (self._closing or self._closed) and not self._iterating:
                self._release()

    def _batch_loop(self) -> Iterator[list[Message]]:
        buf = self._buffer  # messages given back with nack()
        new = self._line_type
        if new is None:
            return
        self._iterating += 1
        try:
            while True:
                if buf:
                    batch = list(buf)
                    buf.clear()
                    yield batch
                    continue
                lines = self._next_lines()
                if lines is None:
                    if buf:
                        continue
                    return
                self._lines = lines
                yield _line_messages(new, lines, self._ts)
        finally:
            self._iterating -= 1
            if (self._closing or self._closed) and not self._iterating:
                self._release()

    def _fill(self) -> bool:  # pragma: no cover - _iterate is overridden
        raise NotImplementedError

    def _next_lines(self) -> list[bytes] | None:
        """Return the next complete lines (possibly none yet), or None: iteration ends."""
        while True:
            if self._pending_error is not None:
                self._raise_pending()
                return None
            if self._closed or self._closing:
                return None
            if self._eof or self._stopping:
                self._eof = True
                run_idle_hooks()
                if self._rest:  # a last line without newline, or read before a stop
                    return self._take_rest()
                return None
            block = self._read_block()
            if block is None:
                continue  # stopped, closed or failed while waiting: checked above
            if not block:
                self._eof = True
                continue
            self._ts = datetime.now(UTC)
            lines = block.split(_NL)
            if len(lines) == 1:  # no newline: the line goes on
                self._rest.append(block)
                self._rest_len += len(block)
                if self._rest_len > self._max + 1:  # + 1: a "\r" may end it
                    self._too_long(0)
                continue
            rest = self._rest
            if rest:
                rest.append(lines[0])
                lines[0] = b"".join(rest)
                rest.clear()
                self._rest_len = 0
            tail = lines.pop()
            if tail:
                rest.append(tail)
                self._rest_len = len(tail)
            if _CR in block or lines[0][-1:] == _CR:
                lines = strip_cr(lines)
            if len(lines[0]) > self._max or (
                self._max < BLOCK_SIZE and max(map(len, lines)) > self._max
            ):
                lines = self._cut_at_long_line(lines)
            elif self._rest_len > self._max + 1:
                self._too_long(len(lines))
            self._lineno += len(lines)
            return lines

    def _take_rest(self) -> list[bytes]:
        line = b"".join(self._rest)
        self._rest.clear()
        self._rest_len = 0
        if line[-1:] == _CR:
            line = line[:-1]
        if len(line) > self._max:
            self._too_long(0)
            return []
        self._lineno += 1
        return [line]

    # -- reading ------------------------------------------------------------------------

    def _read_block(self) -> bytes | None:
        """Read the next block: bytes (b"" at end of input), or None when interrupted."""
        # before every read, so output keeps pace with input: buffered producers write
        # once per input block, and at once when the input pauses
        run_idle_hooks()
        fd = self._fd
        try:
            if fd < 0:
                data = self._read_obj(BLOCK_SIZE)
                if data is None or isinstance(data, bytes):
                    return data or b""
                if isinstance(data, str):
                    self._error(ClientError(
                        "unable to read message from stream: the reader returned text; "
                        "pass a binary reader (open(path, 'rb'), sys.stdin.buffer, BytesIO)"
                    ))
                    return None
                return bytes(data)
            if self._poll is not None and not self._wait_readable():
                return None
            with self._read_lock:
                # the descriptor is the caller's: once close() returned it may be closed
                # and its number reused, so a closed consumer never reads it again
                if self._closing or self._closed:
                    return None
                return os.read(fd, BLOCK_SIZE)
        except BlockingIOError:
            return None  # a non-blocking descriptor had nothing after all: wait again
        except OSError as exc:
            if self._closing or self._closed:
                return None
            self._error(ClientError(f"unable to read message from stream: {exc}"), exc)
            return None

    def _wait_readable(self) -> bool:
        """Block until input is readable (True) or a stop or close woke us (False)."""
        poll = self._poll
        fd = self._fd
        while True:
            if self._stopping or self._closing or self._closed:
                return False
            ready = [ready_fd for ready_fd, _ in poll.poll()]
            if fd in ready:
                return True
            # only the wake-up pipe: drain it and look at the flags again
            with contextlib.suppress(OSError):
                os.read(self._wake_r, 64)

    # -- errors -------------------------------------------------------------------------

    def _cut_at_long_line(self, lines: list[bytes]) -> list[bytes]:
        limit = self._max
        for i, line in enumerate(lines):
            if len(line) > limit:
                self._too_long(i)
                return lines[:i]
        return lines  # pragma: no cover - called only when a line is too long

    def _too_long(self, lines_before: int) -> None:
        n = self._lineno + lines_before + 1
        var = max_line_size_variable(self.config)
        self._pending_error = LineTooLongError(
            f"unable to read message from stream: line {n} is longer than the maximum "
            f"line size of {self._max} bytes; raise the limit with "
            f"options.standardstream_max_line_size(n) or the environment variable {var}"
        )

    def _error(self, exc: ClientError, cause: BaseException | None = None) -> None:
        exc.__cause__ = cause
        self._pending_error = exc

    def _raise_pending(self) -> None:
        """End iteration with the pending error: written output first, then raise."""
        exc = self._pending_error
        assert exc is not None
        self._pending_error = None
        self._eof = True
        self._rest.clear()
        run_idle_hooks()  # every output before the bad line is written
        self._fail(exc)
        if self._failure is not None:
            self._raise_failure()

    # -- acks ---------------------------------------------------------------------------

    def ack(self, msg: Message) -> None:
        """Accept ``msg``: standard input has nothing to commit."""
        if msg.__class__ is self._line_type:
            return
        try:  # a message given back by nack() and handed out again is a copy
            if msg._opaque is self._lease is not None:
                return
        except AttributeError:
            pass
        self._refuse(msg, "ack")

    def _ack_batch(self, msgs: list[Message], k: int) -> None:
        if self._line_type is None:  # closed: say so, as ack() does
            self._check_open("ack")

    def nack(self, msg: Message) -> None:
        """Hand ``msg`` out again before the next line (as it is now)."""
        try:
            if msg._opaque is self._lease is not None:
                self._nack(msg)
                return
        except AttributeError:
            pass
        self._refuse(msg, "nack")

    def _refuse(self, msg: object, what: str) -> NoReturn:
        self._check_open(what)
        raise ClientError(
            f"cannot {what} a message this standardstream consumer did not hand out "
            f"({what} the message object you got from iterating the consumer)"
        )

    def _token(self, msg: Message) -> Any:
        return None

    def _commit(self, tokens: list[Any]) -> None:
        pass

    def _nack(self, msg: Message) -> None:
        self._buffer.insert(0, msg.copy())

    def backlog(self) -> int:
        """Return 0: standard input has no notion of an acknowledged position."""
        return 0

    # -- stop and close -----------------------------------------------------------------

    def _wake(self) -> None:
        # may run inside a signal handler: one non-blocking write, nothing else
        if self._wake_w >= 0:
            with contextlib.suppress(OSError):
                os.write(self._wake_w, b"x")

    def _close_impl(self) -> None:
        self._lease = None
        self._line_type = None
        self._buffer.clear()
        self._lines.clear()  # ends a loop over the current block, in any thread
        self._rest.clear()
        self._wake()
        # a read of the descriptor in progress in another thread ends before close()
        # returns (it does not block: poll said readable, or a regular file); none starts
        # after. Bounded, in case another reader of a shared pipe took the data meanwhile.
        if self._read_lock.acquire(timeout=_READ_WAIT):
            self._read_lock.release()
        if not self._iterating:
            self._release()
        # else: the iterating thread releases the wake-up pipe when it leaves

    def _release(self) -> None:
        with self._release_lock:
            r, w = self._wake_r, self._wake_w
            self._wake_r = self._wake_w = -1
            self._poll = None
        for fd in (r, w):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def _describe_unfinished(self) -> str:
        return ""

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        source = "stdin" if self._reader is None else type(self._reader).__name__
        return f"<{type(self).__name__} {source} {state}>"
