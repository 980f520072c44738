"""Drop messages: the filter example.

Empty messages and comments (values starting with ``#``) are dropped (and acknowledged);
everything else passes unchanged::

    printf 'a\n# note\n\nb\n' | DRY_RUN=1 streamprocessor run examples/filter.py:handle
"""

from __future__ import annotations

from streamprocessor import Message


def handle(msg: Message) -> Message | None:
    """Return ``msg`` unless it is empty or a comment; None drops it."""
    value = (msg.value or b"").strip()
    if not value or value.startswith(b"#"):
        return None
    return msg
