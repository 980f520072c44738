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
handed out — and lines the caller gives back unhandled (``give_back``) — go back to a
seekable input: its position is set to the first of them, so the next reader of the same
open file reads on from there. From a pipe or socket they are dropped, with one warning
saying how many. Each message's ``offset`` is its line's index in the input (0 first).

:class:`StandardstreamSource` is the port; :class:`StandardstreamConsumer` the consumer
built on it.
"""

from __future__ import annotations

import contextlib
import os
import select
import stat
import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from streamprocessor.clients.front import ConsumerFront, run_idle_hooks
from streamprocessor.clients.ports import Commit, Nack, SourceLink
from streamprocessor.clients.standardstream._lines import (
    Lease,
    LineMessage,
    max_line_size_variable,
    strip_cr,
    usable_fd,
)
from streamprocessor.stream.errors import ClientError, LineTooLongError
from streamprocessor.stream.message import Message

if TYPE_CHECKING:
    from streamprocessor.config.models import ConsumerConfig

__all__ = [
    "BLOCK_SIZE",
    "StandardstreamConsumer",
    "StandardstreamSource",
    "max_line_size_variable",
]

#: bytes asked for per read: large enough to amortise the per-block work, small enough
#: that a block's lines stay in the CPU cache while they are handed out
BLOCK_SIZE = 64 * 1024

_NL = b"\n"
_CR = b"\r"
_READ_WAIT = 1.0  # seconds close() waits for a read of the input in progress
#: lines made into messages per fetch at most (the rest of a block waits in the source)
_FETCH = 1024
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


class StandardstreamSource:
    """Newline-delimited messages of a binary reader (None: the process's stdin).

    The reader is ``config.standardstream.reader`` (a binary file object) or, when that
    is ``None``, the process's standard input (file descriptor 0). Neither is closed by
    :meth:`close`: the caller owns them.
    """

    nack = Nack.REQUEUE  # the message comes again as it is now, before the next line
    commits = Commit.NEVER  # standard input has no notion of an acknowledged position
    ack_key: Callable[[Message], Any] | None = None  # (never used: NEVER)

    def __init__(self, config: ConsumerConfig, link: SourceLink) -> None:
        self._config = config
        self._link = link
        self._log = link.log
        section = config.standardstream
        self._max: int = section.max_line_size
        self._reader: Any = cast(Any, section.reader)  # (None: stdin, the fd 0)
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
        #: complete lines read and not made into messages yet; the first is line ``_made``
        self._lines: list[bytes] = []
        self._made = 0
        self._eof = False
        self._pending_error: ClientError | None = None
        #: per read block: [index of its first line, position where that line starts,
        #: position of the block, its bytes (None once older than _KEEP_BLOCKS)]
        self._blocks: deque[list[Any]] = deque(maxlen=4096)
        self._back: set[int] = set()  # lines made into messages and not handled
        self._owed: set[int] = set()  # given back, and returned to the caller to handle
        self._settled = False  # the dropped lines of a pipe are reported
        self._ts: datetime | None = None  # when the current block was read
        self._woken = False  # a stop or close: a waiting fetch returns
        self._closed = False
        self._fetching = 0
        self._release_lock = threading.Lock()
        self._read_lock = threading.RLock()  # (re-entrant: close() from a signal handler)
        #: the class of the messages handed out: its ``_opaque`` names the consumer
        self._line_type: type[LineMessage] = type(
            "LineMessage", (LineMessage,), {"__slots__": (), "_opaque": Lease(link)}
        )
        self.message_type: type[Message] | None = self._line_type

    # -- fetching -----------------------------------------------------------------------

    def fetch(self, wait: float) -> list[Message] | None:
        """The next lines as messages (at most a block's); [] when none within ``wait``."""
        if not self._lines:
            self._fetching += 1
            try:
                lines = self._next_lines(wait)
            finally:
                self._fetching -= 1
                if self._closed and not self._fetching:
                    self._release()
            if lines is None:
                return None
            if not lines:
                return []
            self._lines = lines
        lines = self._lines
        first = self._made
        if len(lines) <= _FETCH:
            self._lines = []
        else:
            lines = lines[:_FETCH]
            del self._lines[:_FETCH]
        self._made = first + len(lines)
        return _line_messages(self._line_type, lines, self._ts, first)

    def _next_lines(self, wait: float) -> list[bytes] | None:
        """Return the next complete lines ([]: none yet), or None: the input ended."""
        while True:
            if self._pending_error is not None:
                self._raise_pending()
            if self._closed:
                return None
            if self._woken:
                return []  # (stopping: the front hands out nothing more)
            if self._eof:
                if self._rest:  # a last line without newline
                    return self._take_rest()
                return None
            block = self._read_block(wait)
            if block is None:
                if self._pending_error is not None:
                    continue
                return []  # nothing within ``wait``, or woken
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
            if lines:
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

    def _read_block(self, wait: float) -> bytes | None:
        """Read the next block: bytes (b"" at end of input), or None: nothing yet, woken."""
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
            if self._poll is not None and not self._wait_readable(wait):
                return None
            with self._read_lock:
                # the descriptor is the caller's: once close() returned it may be closed
                # and its number reused, so a closed consumer never reads it again
                if self._closed:
                    return None
                return os.read(fd, BLOCK_SIZE)
        except BlockingIOError:
            return None  # a non-blocking descriptor had nothing after all: wait again
        except OSError as exc:
            if self._closed:
                return None
            self._error(ClientError(f"unable to read message from stream: {exc}"), exc)
            return None

    def _wait_readable(self, wait: float) -> bool:
        """Wait up to ``wait`` seconds for input: True when readable (False: not, or woken)."""
        if self._woken or self._closed:
            return False
        poll = self._poll
        ready = [ready_fd for ready_fd, _ in poll.poll(int(wait * 1000))]
        if self._fd in ready:
            return True
        if ready:  # the wake-up pipe: drain it (the flags say why)
            with contextlib.suppress(OSError):
                os.read(self._wake_r, 64)
        return False

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
        var = max_line_size_variable(self._config)
        self._pending_error = LineTooLongError(
            f"unable to read message from stream: line {n} is longer than the maximum "
            f"line size of {self._max} bytes; raise the limit with "
            f"options.standardstream_max_line_size(n) or the environment variable {var}"
        )

    def _error(self, exc: ClientError, cause: BaseException | None = None) -> None:
        exc.__cause__ = cause
        self._pending_error = exc

    def _raise_pending(self) -> None:
        """End the input with the pending error (the front makes it the client's)."""
        exc = self._pending_error
        assert exc is not None
        self._pending_error = None
        self._eof = True
        self._rest.clear()
        raise exc

    # -- what the front asks besides fetching -----------------------------------------

    def ack_holders(self) -> list[Any]:
        """None: standard input has nothing to commit."""
        return []

    def commit(self, acked: list[Any]) -> None:
        """Nothing: standard input has nothing to commit (``commits`` is NEVER)."""

    def rewind(self, msg: Message) -> Message | None:
        """Hand ``msg`` out again as it is now, before the next line."""
        return msg.copy()

    def backlog(self) -> int:
        """Return 0: standard input has no notion of an acknowledged position."""
        return 0

    def pause(self, msgs: Sequence[Message]) -> list[object] | None:
        """Cannot pause: one stream."""
        return None

    def rewind_all(self) -> tuple[Callable[[Message], bool], int] | None:
        """Cannot: what was handed out is not kept."""
        return None

    def resume(self, paused: Sequence[object]) -> None:
        """Nothing was paused."""

    def unfinished(self) -> str:
        """Nothing: lines need no commit."""
        return ""

    def save_before_exit(self) -> None:
        """Nothing beyond :meth:`stopped`, which the front calls first."""

    # -- stop, give back, close ---------------------------------------------------------

    def _note_back(self, msgs: Iterable[Message]) -> None:
        for m in msgs:
            if isinstance(m.offset, int):
                self._back.add(m.offset)

    def give_back(self, msgs: Sequence[Message]) -> list[Message]:
        """Take back ``msgs``, taken as a batch and not handled (all the others were).

        A seekable input is positioned at the first line not handled. When handled lines
        follow unhandled ones, returns those the caller must still handle (then give back
        what of them it did not) — a file is re-read from one position only.
        """
        self._back -= self._owed
        self._note_back(msgs)
        owed = self._owed = self._not_a_tail() if self._seekable else set()
        self._settle()
        return [m for m in msgs if m.offset in owed]

    def stopped(self, unhanded: Sequence[Message]) -> None:
        """A stop: ``unhanded`` were not handed out; position a file at the first line left."""
        self._note_back(unhanded)
        if self._read_lock.acquire(timeout=_READ_WAIT):  # (not during a read)
            try:
                self._settle()
            finally:
                self._read_lock.release()

    def _handed_end(self) -> int:
        """The index of the first line not made into a message."""
        return self._made

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
        if not report or self._settled or self._link.coordinator.output_gone:
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

    def wake(self) -> None:
        """End a waiting fetch (may run in a signal handler: one non-blocking write)."""
        self._woken = True
        if self._wake_w >= 0:
            with contextlib.suppress(OSError):
                os.write(self._wake_w, b"x")

    def close(self, timeout: float) -> None:
        """Position a file after what was handled (a pipe: say what is dropped); let go."""
        self._closed = True
        self.wake()
        # a read of the descriptor in progress in another thread ends before close()
        # returns (it does not block: poll said readable, or a regular file); none starts
        # after. Bounded, in case another reader of a shared pipe took the data meanwhile.
        if self._read_lock.acquire(timeout=_READ_WAIT):
            try:
                self._settle(report=True)
            finally:
                self._read_lock.release()
        self._rest.clear()
        self._lines = []
        if not self._fetching:
            self._release()
        # else: the fetching thread releases the wake-up pipe when it leaves

    def _release(self) -> None:
        with self._release_lock:
            r, w = self._wake_r, self._wake_w
            self._wake_r = self._wake_w = -1
            self._poll = None
        for fd in (r, w):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)



class StandardstreamConsumer(ConsumerFront):
    """Consumer of newline-delimited messages (see the package docstring for its behaviour).

    The reader is ``config.standardstream.reader`` (a binary file object) or, when that
    is ``None``, the process's standard input (file descriptor 0). Neither is closed by
    :meth:`close`: the caller owns them.
    """

    client_type = "standardstream"

    def __init__(self, config: ConsumerConfig) -> None:
        super().__init__(config, lambda link: StandardstreamSource(config, link))

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        reader = self._config.standardstream.reader
        source = "stdin" if reader is None else type(reader).__name__
        return f"<{type(self).__name__} {source} {state}>"
