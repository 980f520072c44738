"""A handler that fails on some messages: try the error policies with it.

Values containing ``fail`` raise; the rest pass::

    printf 'ok\nfail\nok2\n' | DRY_RUN=1 streamprocessor run examples/flaky.py:handle
    # exit status 1: the default policy stops, "fail" is not acknowledged

    printf 'ok\nfail\nok2\n' | DRY_RUN=1 \\
        streamprocessor run examples/flaky.py:handle --retries 2 --on-error skip
    printf 'ok\nfail\nok2\n' | DRY_RUN=1 \\
        streamprocessor run examples/flaky.py:handle --on-error dead-letter
"""

from __future__ import annotations

from streamprocessor import Message


def handle(msg: Message) -> Message:
    """Return ``msg``; raise ValueError when its value contains ``fail``."""
    if b"fail" in (msg.value or b""):
        raise ValueError(f"cannot handle {msg.value!r}")
    return msg
