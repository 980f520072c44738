"""Uppercase every message: the transform example.

Run it with the ``streamprocessor`` command::

    printf 'hello\nworld\n' | DRY_RUN=1 streamprocessor run examples/uppercase.py:handle

or as a program of its own, with its own ``--help`` page (``usage()``)::

    printf 'hello\nworld\n' | DRY_RUN=1 python examples/uppercase.py
    python examples/uppercase.py --help
"""

from __future__ import annotations

import sys

from streamprocessor import Message
from streamprocessor.util import About, usage

ABOUT = About(
    name="uppercase",
    usage="Uppercases the value of every message; key and tags are kept.",
    uri="https://github.com/blendle/go-streamprocessor",
)


def handle(msg: Message) -> Message:
    """Return the message with its value in upper case (a tombstone stays one)."""
    value = msg.value.upper() if msg.value is not None else None
    return Message(value=value, key=msg.key, tags=msg.tags)


if __name__ == "__main__":
    if usage(ABOUT):
        sys.exit(0)
    from streamprocessor.cli import main

    sys.exit(main(["run", f"{__file__}:handle", *sys.argv[1:]]))
