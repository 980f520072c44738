"""Lines of the standard-stream consumer: the message class, the lease, reading helpers.

IO-free except for finding (and positioning) the descriptor a reader is read through.
"""

from __future__ import annotations

import io
import os
import stat
import sys
from typing import TYPE_CHECKING, Any

from streamprocessor.stream.message import Message

if TYPE_CHECKING:
    from streamprocessor.config.models import ClientConfig

__all__ = [
    "FreshTags",
    "Lease",
    "LineMessage",
    "max_line_size_variable",
    "strip_cr",
    "sync_position",
    "usable_fd",
]

_CR = b"\r"


def max_line_size_variable(config: ClientConfig) -> str:
    """Return the environment variable that sets this consumer's maximum line size."""
    from streamprocessor.config.variables import env_prefix

    return f"{env_prefix('consumer', config.name)}_STANDARDSTREAM_MAX_LINE_SIZE"


class FreshTags:
    """``tags`` of a line message: an empty dict of its own, made when first read.

    A non-data descriptor: the dict goes to the message's ``__dict__``, which is read
    before the descriptor from then on (and which an assignment fills directly).
    """

    def __get__(self, msg: Any, owner: type | None = None) -> Any:
        if msg is None:
            return self
        tags: dict[str, bytes] = {}
        msg.__dict__["tags"] = tags
        return tags


class LineMessage(Message):
    """A :class:`Message` read from a line of input; it behaves exactly as a Message.

    It exists for speed: its constructor is C's (no ``__init__`` in Python), and the
    fields every line has in common are class attributes, so a line costs the object and
    three slot stores (``value``, ``timestamp``, ``offset``: the line's index in the
    input). An assignment to any field stores it in the message as usual. Each consumer
    makes its own subclass whose ``_opaque`` is the consumer's lease: ``ack`` recognises
    its messages by their class.
    """

    __init__ = object.__init__
    key = None
    consumer_topic = ""
    producer_topic = ""
    partition = None
    _counts_lines = True
    tags = FreshTags()


class Lease:
    """The opaque value of the messages a consumer hands out: says which consumer."""

    __slots__ = ("owner",)

    def __init__(self, owner: object) -> None:
        self.owner = owner


def strip_cr(lines: list[bytes]) -> list[bytes]:
    """Return ``lines``, each without the carriage return it may end with."""
    return [line[:-1] if line[-1:] == _CR else line for line in lines]


def usable_fd(reader: Any) -> int:
    """Return the file descriptor to read, or -1 to read through the object."""
    if reader is None:
        stdin = sys.stdin
        if stdin is not None:
            # a redirected file the application already read from: start where it is
            sync_position(getattr(stdin, "buffer", None), 0)
        return 0
    # only a plain file object is read through its descriptor: any other object
    # may transform the bytes (TLS, compression) or hold data of its own
    raw = reader.raw if isinstance(reader, io.BufferedReader) else reader
    if not isinstance(raw, io.FileIO) or raw.closed:
        return -1
    fd = raw.fileno()
    sync_position(reader, fd)
    return fd


def sync_position(reader: Any, fd: int) -> None:
    """Move ``fd`` to where a buffered ``reader`` of a regular file logically is.

    A buffered file object reads ahead: after ``f.readline()`` its descriptor is past
    the line. Reading the descriptor directly must start right after what was returned.
    """
    if not isinstance(reader, io.BufferedReader):
        return
    try:
        if reader.fileno() != fd or not stat.S_ISREG(os.fstat(fd).st_mode):
            return
        pos = reader.tell()
        if os.lseek(fd, 0, os.SEEK_CUR) != pos:
            os.lseek(fd, pos, os.SEEK_SET)
    except (OSError, ValueError):
        pass

