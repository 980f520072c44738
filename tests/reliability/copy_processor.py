"""The processor under test: copies every input message, naming its source in a header.

``streamprocessor run tests/reliability/copy_processor.py:copy`` produces, for every
input record, an output with the same key and value and the tag (Kafka header)
``src=<partition>:<offset>`` of the input, which is what the verifier reads.

``RELIABILITY_NAME`` (optional) goes into the header ``by``: which process made the copy.
``RELIABILITY_RATE`` (messages per second, optional) paces the handler so that a test
knows how fast the processor goes: fault points then fall at predictable times and the
duplicate bound of a kill (rate x commit interval) stays well below the input size.
``RELIABILITY_SLOW_EVERY`` / ``RELIABILITY_SLOW_SECONDS`` make every n-th call slow.
The other handlers return bad output on purpose, for the bad-input catalogue.
"""

from __future__ import annotations

import os
import time

from streamprocessor import Message
from streamprocessor.runner._engine import partition_of

_NAME = os.environ.get("RELIABILITY_NAME", "").encode()
_RATE = float(os.environ.get("RELIABILITY_RATE", "0") or 0)
_SLOW_EVERY = int(os.environ.get("RELIABILITY_SLOW_EVERY", "0") or 0)
_SLOW_SECONDS = float(os.environ.get("RELIABILITY_SLOW_SECONDS", "0") or 0)
_started = 0.0
_count = 0


def _pace() -> None:
    """Sleep so that the handler never runs ahead of RELIABILITY_RATE messages per second."""
    global _started, _count
    now = time.monotonic()
    if _count == 0:
        _started = now
    _count += 1
    if _SLOW_EVERY and _count % _SLOW_EVERY == 0:
        time.sleep(_SLOW_SECONDS)
    if _RATE > 0:
        ahead = _started + _count / _RATE - now
        if ahead > 0.002:
            time.sleep(ahead)
        elif ahead < -0.1:  # held up (a rebalance, a slow call): no burst to catch up
            _started -= ahead


def source(msg: Message) -> bytes:
    """Return ``<partition>:<offset>`` of a consumed Kafka message."""
    return f"{partition_of(msg)}:{msg.offset}".encode()


def copy(msg: Message) -> Message:
    """Copy ``msg`` with its source position in the ``src`` tag."""
    _pace()
    return Message(value=msg.value, key=msg.key, tags={"src": source(msg), "by": _NAME})


def fail_on_poison(msg: Message) -> Message:
    """Copy ``msg``, but raise on the value ``poison`` (a handler exception)."""
    if msg.value == b"poison":
        raise ValueError(f"cannot process poison message at {source(msg).decode()}")
    return copy(msg)


def bytes_on_poison(msg: Message) -> object:
    """Copy ``msg``, but return raw bytes for ``poison`` (not a Message)."""
    if msg.value == b"poison":
        return msg.value
    return copy(msg)


def text_on_poison(msg: Message) -> Message:
    """Copy ``msg``, but give ``poison`` a ``str`` value (not bytes)."""
    if msg.value == b"poison":
        return Message(value="poison as text", key=msg.key)  # type: ignore[arg-type]
    return copy(msg)


def huge_on_poison(msg: Message) -> Message:
    """Copy ``msg``, but answer ``poison`` with 3 MB of random bytes.

    Random, so compression cannot bring it under the broker's 1 MiB limit either.
    """
    if msg.value == b"poison":
        return Message(value=os.urandom(3_000_000), key=msg.key, tags={"src": source(msg)})
    return copy(msg)
