"""The standardstream client's conformance harnesses: a file, a BytesIO and a pipe.

The producer writes lines to the harness's "topic" and a consumer reads them back:

- file: a regular file on disk (the consumer reads its descriptor; iteration is finite);
- BytesIO: an object without a file descriptor (read through ``read1``; finite);
- pipe: an ``os.pipe`` kept open for writing, so iteration never ends by itself and a
  consumer waits in ``poll`` — the case of a terminal or a live pipeline.

What the client does not claim — fields other than ``value``, acknowledgements that
persist, a backlog, binary values (a value cannot hold a newline), tombstones (``None``
is written as an empty line) — is skipped by the suite, visibly. A nack hands the one
message out again, next. A fatal error is provoked by breaking the client's file: its
descriptor then refers to ``/dev/null`` opened the other way (reads and writes fail with
EBADF), or the BytesIO raises OSError.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streamprocessor import options
from streamprocessor.clients import standardstream
from streamprocessor.stream import Consumer
from streamprocessor.testing.conformance import Features, Harness

if TYPE_CHECKING:
    import pytest

__all__ = ["HARNESSES", "BytesIOHarness", "FileHarness", "PipeHarness", "break_file"]

FINITE = Features(
    fields=frozenset({"value"}),
    persistent_acks=False,
    redelivers_unacked=False,
    backlog=False,
    binary_values=False,
    tombstones=False,
    ordering_per_key=True,
    finite=True,
    ack_barrier=False,  # nothing is committed
    nack="requeue",
)


def break_file(f: Any) -> None:
    """Make every read or write of ``f``'s descriptor fail (EBADF), as a revoked file does.

    The descriptor stays open (on ``/dev/null``, opened the other way), so its number is
    not reused while the client still holds it.
    """
    mode = os.O_RDONLY if f.writable() else os.O_WRONLY
    null = os.open(os.devnull, mode)
    try:
        os.dup2(null, f.fileno())
    finally:
        os.close(null)


class BreakableIO(io.BytesIO):
    """A BytesIO whose reads and writes fail with OSError once ``broken``."""

    broken = False

    def read1(self, size: int | None = -1, /) -> bytes:
        if self.broken:
            raise OSError(errno.EIO, "broken by the test")
        return super().read1(size)

    def write(self, b: Any, /) -> int:
        if self.broken:
            raise OSError(errno.EIO, "broken by the test")
        return super().write(b)


class FileHarness(Harness):
    """Lines go to a file; each consumer reads the file from its start."""

    def __init__(self, path: Path) -> None:
        super().__init__(features=FINITE, timeout=5.0)
        self.path = path
        path.write_bytes(b"")
        self.files: dict[Any, Any] = {}  # client → its file

    def new_producer(self, *opts: Any) -> Any:
        f = self.path.open("ab")
        p = standardstream.new_producer(options.standardstream_writer(f), *opts)
        self.files[p] = f
        return p

    def new_consumer(self, *opts: Any) -> Any:
        f = self.path.open("rb")
        c = standardstream.new_consumer(options.standardstream_reader(f), *opts)
        self.files[c] = f
        return c

    def provoke_fatal(self, client: Any) -> None:
        break_file(self.files[client])

    def close(self) -> None:
        for f in self.files.values():
            with contextlib.suppress(OSError):  # (a broken file cannot flush)
                f.close()


class BytesIOHarness(Harness):
    """Lines go to a BytesIO; each consumer reads a BytesIO of everything written."""

    def __init__(self) -> None:
        super().__init__(features=FINITE, timeout=5.0)
        self.out = BreakableIO()
        self.readers: dict[Any, BreakableIO] = {}

    def new_producer(self, *opts: Any) -> Any:
        return standardstream.new_producer(options.standardstream_writer(self.out), *opts)

    def new_consumer(self, *opts: Any) -> Any:
        reader = BreakableIO(self.out.getvalue())
        c = standardstream.new_consumer(options.standardstream_reader(reader), *opts)
        self.readers[c] = reader
        return c

    def provoke_fatal(self, client: Any) -> None:
        # (a broken writer still gives consumers made later what was written before)
        self.readers.get(client, self.out).broken = True


_KEEP_OPEN: list[Any] = []


class PipeHarness(Harness):
    """Lines go into a pipe that stays open: consumers wait for more, never reach EOF."""

    def __init__(self) -> None:
        super().__init__(features=Features(**{**FINITE.__dict__, "finite": False}), timeout=5.0)
        r, w = os.pipe()
        self.reader = os.fdopen(r, "rb", buffering=0)
        self.writer = os.fdopen(w, "wb", buffering=0)

    def new_producer(self, *opts: Any) -> Any:
        return standardstream.new_producer(options.standardstream_writer(self.writer), *opts)

    def new_consumer(self, *opts: Any) -> Any:
        return standardstream.new_consumer(options.standardstream_reader(self.reader), *opts)

    def provoke_fatal(self, client: Any) -> None:
        # (breaking the write end also ends the pipe: its consumers then read to its end)
        break_file(self.reader if isinstance(client, Consumer) else self.writer)

    def close(self) -> None:
        # Keep the descriptors open until the session ends: a consumer thread the suite
        # left waiting may still poll the read end, and a closed number reused by the
        # next test's pipe would let that thread read the next test's lines.
        _KEEP_OPEN.extend((self.writer, self.reader))


def _file(request: pytest.FixtureRequest) -> Harness:
    tmp: Path = request.getfixturevalue("tmp_path")
    return FileHarness(tmp / "topic.txt")


#: the harnesses the conformance suite runs this client type with: variant → factory
HARNESSES: dict[str, Callable[[pytest.FixtureRequest], Harness]] = {
    "file": _file,
    "bytesio": lambda request: BytesIOHarness(),
    "pipe": lambda request: PipeHarness(),
}
