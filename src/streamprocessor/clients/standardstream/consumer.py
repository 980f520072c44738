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

Stopping: after a stop (signal, ``close()``) no line is handed out. Lines read and not
handed out — and lines the caller gives back unhandled (``_give_back``) — go back to a
seekable input: its position is set to the first of them, so the next reader of the same
open file reads on from there. From a pipe or socket they are dropped, with one warning
saying how many. Each message's ``offset`` is its line's index in the input (0 first).
"""

from __future__ import annotations

import contextlib
import os
import select
import stat
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from operator import length_hint
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
from streamprocessor.util.interrupts import COORDINATOR

__all__ = ["BLOCK_SIZE", "StandardstreamConsumer", "max_line_size_variable"]

#: bytes asked for per read: large enough to amortise the per-block work, small enough
#: that a block's lines stay in the CPU cache while they are handed out
BLOCK_SIZE = 64 * 1024

_NL = b"\n"
_CR = b"\r"
_READ_WAIT = 1.0  # seconds close() waits for a read of the input in progress
_NO_LINES: list[bytes] = []
#: read blocks whose bytes are kept to find a line's position (older ones: their start)
_KEEP_BLOCKS = 3


def _line_messages(
    new: Any, lines: Iterable[bytes], ts: datetime | None, first: int
) -> list[Message]:
    """Return the messages of ``lines``, numbered from ``first`` (``new``: the message class)."""
    out: list[Message] = []
    append = out.append
    for off, line in enumerate(lines, first):
        m = new()
        m.value = line
        m.timestamp = ts
        m.offset = off
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
        "_back",
        "_block",
        "_blocks",
        "_eof",
        "_fd",
        "_lease",
        "_line_type",
        "_lineno",
        "_max",
        "_owed",
        "_pending_error",
        "_poll",
        "_pos",
        "_read_lock",
        "_read_obj",
        "_reader",
        "_release_lock",
        "_rest",
        "_rest_len",
        "_seekable",
        "_settled",
        "_ts",
        "_wake_r",
        "_wake_w",
    )

    client_type = "standardstream"

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
        #: the input's position (bytes) after the last read; -1: it cannot be set
        self._pos = -1
        with contextlib.suppress(OSError, ValueError, AttributeError):
            if self._fd >= 0 and stat.S_ISREG(mode):
                self._pos = os.lseek(self._fd, 0, os.SEEK_CUR)
            elif self._fd < 0 and self._reader.seekable():
                self._pos = self._reader.tell()
        self._seekable = self._pos >= 0
        self._pos = max(self._pos, 0)
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
        self._lineno = 0  # complete lines taken from the input so far
        self._eof = False
        self._pending_error: ClientError | None = None
        #: the lines being handed out: (index of the first, the lines or their messages,
        #: the iterator over those — None when the caller took them all as a batch); the
        #: list is cleared on stop
        self._block: tuple[int, list[Any], Iterator[Any] | None] = (0, _NO_LINES, None)
        #: per read block: [index of its first line, position where that line starts,
        #: position of the block, its bytes (None once older than _KEEP_BLOCKS)]
        self._blocks: deque[list[Any]] = deque(maxlen=4096)
        self._back: set[int] = set()  # lines handed out and given back unhandled
        self._owed: set[int] = set()  # given back, and returned to the caller to handle
        self._settled = False  # the dropped lines of a pipe are reported
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
        rest: Iterator[Message] = iter(())  # the messages of the block not handed out yet
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
                first = self._lineno - len(lines)
                msgs = _line_messages(new, lines, self._ts, first)
                rest = iter(msgs)  # (a stop clears the list: this loop then ends)
                self._block = (first, msgs, rest)  # (one store: a signal sees old or new)
                if self._halted:
                    continue  # (stopped meanwhile: hand out nothing more)
                for m in rest:
                    if buf:
                        while buf:
                            yield buf.pop(0)
                    yield m
        finally:
            # an iterator left early (``break``): a later one hands out the rest of the
            # block — those lines were read from the stream and cannot be read again
            if self._block[2] is rest:
                buf.extend(rest)
            self._iterating -= 1
            if self._stopping:
                self._settle()
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
                off = self._lineno - len(lines)
                self._block = (off, lines, None)
                yield _line_messages(new, lines, self._ts, off)
                self._block = (self._lineno, _NO_LINES, None)  # the caller is done with it
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
            if self._stopping:
                run_idle_hooks()
                return None  # what was read and not handed out: see _settle
            if self._eof:
                run_idle_hooks()
                if self._rest:  # a last line without newline
                    return self._take_rest()
                return None
            block = self._read_block()
            if block is None:
                continue  # stopped, closed or failed while waiting: checked above
            if not block:
                self._eof = True
                continue
            pos = self._pos
            self._pos = pos + len(block)
            self._ts = datetime.now(UTC)
            lines = block.split(_NL)
            if len(lines) == 1:  # no newline: the line goes on
                self._rest.append(block)
                self._rest_len += len(block)
                if self._rest_len > self._max + 1:  # + 1: a "\r" may end it
                    self._too_long(0)
                continue
            self._add_block(pos - self._rest_len, pos, block)
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

    def _add_block(self, first_pos: int, pos: int, block: bytes | None) -> None:
        """Remember where the lines of a block start (see :meth:`_position_of`)."""
        blocks = self._blocks
        if len(blocks) >= _KEEP_BLOCKS:
            blocks[-_KEEP_BLOCKS][3] = None
        blocks.append([self._lineno, first_pos, pos, block])

    def _take_rest(self) -> list[bytes]:
        self._add_block(self._pos - self._rest_len, self._pos, None)
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

    # -- stop, give back, close ---------------------------------------------------------

    def _drop_buffered(self) -> None:
        # (on stop and close; may run in a signal handler: no locks, no IO)
        first, lines, it = self._block
        if it is not None:  # iteration: what is handed out ends here
            self._block = (first + len(lines) - length_hint(it), _NO_LINES, None)
            lines.clear()  # (the loop over them ends at its next step, in any thread)
        self._note_back(self._buffer)  # given back with nack() and not handed out again
        super()._drop_buffered()

    def _note_back(self, msgs: Iterable[Message]) -> None:
        for m in msgs:
            if isinstance(m.offset, int):
                self._back.add(m.offset)

    def _give_back(self, msgs: list[Message]) -> list[Message]:
        """Take back ``msgs``, taken as a batch and not handled (all the others were).

        A seekable input is positioned at the first line not handled. When handled lines
        follow unhandled ones, returns those the caller must still handle (then give back
        what of them it did not) — a file is re-read from one position only.
        """
        self._block = (self._lineno, _NO_LINES, None)
        self._back -= self._owed
        self._note_back(msgs)
        owed = self._owed = self._not_a_tail() if self._seekable else set()
        self._settle()
        return [m for m in msgs if m.offset in owed]

    def _handed_end(self) -> int:
        """The index of the first line not handed out (a batch: its first line)."""
        return self._block[0]

    def _not_a_tail(self) -> set[int]:
        """The lines given back that come before a handled line."""
        back, end = self._back, self._handed_end()
        if not back or all(i in back for i in range(min(back), end)):
            return set()
        last_handled = next(i for i in range(end - 1, -1, -1) if i not in back)
        return {i for i in back if i < last_handled}

    def _first_unhandled(self) -> int:
        end = self._handed_end()
        return min(min(self._back), end) if self._back else end

    def _settle(self, report: bool = False) -> None:
        """Return what was read and not handled to the input: position a seekable one.

        ``report``: say how many lines a pipe or socket dropped (once; at close).
        """
        first = self._first_unhandled()
        if self._seekable:
            pos = self._position_of(first)
            with contextlib.suppress(OSError, ValueError, AttributeError):
                if self._fd >= 0:
                    os.lseek(self._fd, pos, os.SEEK_SET)
                else:
                    self._reader.seek(pos)
            return
        if not report or self._settled or COORDINATOR.output_gone:
            return  # (| head -1: the output is gone, the rest of the input is moot)
        self._settled = True
        back = self._back - self._owed
        n = sum(1 for i in back if i < first) + self._lineno - first
        what = [f"{n} line(s)"] if n else []
        if self._rest_len:
            what.append("a partial line")
        if what:
            source = "standard input" if self._reader is None else "the reader"
            self._log.warning(
                "Stopped with %s read from %s and not handled: dropped (a pipe or socket "
                "cannot be rewound; redirect a file, < FILE, to keep them for the next "
                "reader)", " and ".join(what), source,
            )

    def _position_of(self, line: int) -> int:
        """Return the input position where line ``line`` starts (or an earlier one)."""
        if line >= self._lineno:
            return self._pos - self._rest_len
        for first, first_pos, pos, data in reversed(self._blocks):
            if line >= first:
                if line == first or data is None:
                    return int(first_pos)
                i = -1
                for _ in range(line - first):
                    i = data.index(_NL, i + 1)
                return int(pos) + i + 1
        return int(self._blocks[0][1]) if self._blocks else self._pos

    def _before_exit(self) -> None:
        # the shutdown timeout ends the process: leave a file where a next reader starts
        if self._read_lock.acquire(timeout=_READ_WAIT):
            try:
                self._drop_buffered()
                self._settle()
            finally:
                self._read_lock.release()

    def _wake(self) -> None:
        # may run inside a signal handler: one non-blocking write, nothing else
        if self._wake_w >= 0:
            with contextlib.suppress(OSError):
                os.write(self._wake_w, b"x")

    def _close_impl(self) -> None:
        self._lease = None
        self._line_type = None
        self._drop_buffered()  # ends a loop over the current block, in any thread
        self._wake()
        # a read of the descriptor in progress in another thread ends before close()
        # returns (it does not block: poll said readable, or a regular file); none starts
        # after. Bounded, in case another reader of a shared pipe took the data meanwhile.
        if self._read_lock.acquire(timeout=_READ_WAIT):
            try:
                self._settle(report=True)
            finally:
                self._read_lock.release()
        self._rest.clear()
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
