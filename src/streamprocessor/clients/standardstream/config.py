"""The standard-stream sections of the configs: ``config.standardstream``.

The consumer's reader (None: stdin) and line limit, the producer's writer (None: stdout).
"""

from __future__ import annotations

import io
from typing import Annotated, Any, BinaryIO

from pydantic import PlainSerializer, PlainValidator

from streamprocessor.config.fields import PositiveInt
from streamprocessor.config.section import Section, describe

__all__ = [
    "MAX_LINE_SIZE",
    "Reader",
    "StandardstreamConsumerConfig",
    "StandardstreamProducerConfig",
    "Writer",
]

#: ``standardstream.max_line_size``'s default (512 KiB)
MAX_LINE_SIZE = 524_288


def _is_text(value: object) -> bool:
    return isinstance(value, io.TextIOBase) or (
        hasattr(value, "encoding") and hasattr(value, "buffer")
    )


def _reader(value: object) -> object:
    if value is None:
        return None
    if _is_text(value):
        raise ValueError("a text stream cannot be read as bytes; pass its .buffer")
    if not callable(getattr(value, "read", None)):
        raise ValueError(f"expected a binary file object with read(), not {type(value).__name__}")
    return value


def _writer(value: object) -> object:
    if value is None:
        return None
    if _is_text(value):
        raise ValueError("a text stream cannot take bytes; pass its .buffer")
    if not callable(getattr(value, "write", None)):
        raise ValueError(f"expected a binary file object with write(), not {type(value).__name__}")
    return value


def _same(value: object) -> object:
    return value


# Serialised as the object itself: pydantic would otherwise iterate a file object.
_AS_IS = PlainSerializer(_same, return_type=Any)
#: A binary reader (``sys.stdin.buffer``, ``open(path, "rb")``, ``io.BytesIO``) or None.
Reader = Annotated[BinaryIO | None, PlainValidator(_reader), _AS_IS]
#: A binary writer (``sys.stdout.buffer``, ``open(path, "wb")``, ``io.BytesIO``) or None.
Writer = Annotated[BinaryIO | None, PlainValidator(_writer), _AS_IS]


class _Streams(Section):
    def printable_value(self, key: str, value: Any) -> Any:
        if key in ("reader", "writer"):
            if value is None:
                return "stdin" if key == "reader" else "stdout"
            return describe(value)
        return super().printable_value(key, value)


class StandardstreamConsumerConfig(_Streams):
    """The standard-stream consumer section: a binary reader (None: stdin), line limit."""

    reader: Reader = None
    max_line_size: PositiveInt = MAX_LINE_SIZE


class StandardstreamProducerConfig(_Streams):
    """The standard-stream producer section: a binary writer (None: stdout)."""

    writer: Writer = None
