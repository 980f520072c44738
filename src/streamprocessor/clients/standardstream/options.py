"""The standard-stream client type's options (Go ``StandardstreamReader``/``…Writer``).

They are reached as ``streamprocessor.options.standardstream_…`` too.
"""

from __future__ import annotations

from typing import BinaryIO

from streamprocessor.config.build import Option
from streamprocessor.config.optionkit import setter

__all__ = [
    "standardstream_max_line_size",
    "standardstream_reader",
    "standardstream_writer",
]


def standardstream_reader(r: BinaryIO | None) -> Option:
    """Read lines from the binary reader ``r``; None is stdin (Go ``StandardstreamReader``)."""
    return setter("consumer", "standardstream_reader", "standardstream.reader", r)


def standardstream_writer(w: BinaryIO | None) -> Option:
    """Write lines to the binary writer ``w``; None is stdout (Go ``StandardstreamWriter``)."""
    return setter("producer", "standardstream_writer", "standardstream.writer", w)


def standardstream_max_line_size(n: int) -> Option:
    """Accept input lines of up to ``n`` bytes (default 524288; consumer; not in Go).

    Environment: ``*_STANDARDSTREAM_MAX_LINE_SIZE``.
    """
    return setter("consumer", "standardstream_max_line_size", "standardstream.max_line_size", n)
