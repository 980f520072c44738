"""Route to two producers: valid JSON objects to the default one, the rest to ``invalid``.

The extra producer is named on the command line and configured by its own variables
(``INVALID_PRODUCER_*``), as the original's ``producer2`` example was::

    printf '{"id": 1}\nnot json\n' | DRY_RUN=1 \\
        streamprocessor run examples/router.py:route --producer invalid

With ``DRY_RUN`` every producer writes to stdout; on Kafka each has its own topic
(``PRODUCER_KAFKA_TOPIC``, ``INVALID_PRODUCER_KAFKA_TOPIC``).
"""

from __future__ import annotations

import json

from streamprocessor import Message
from streamprocessor.runner import Routed, to


def route(msg: Message) -> Message | Routed:
    """Send a JSON object on unchanged; send anything else to the ``invalid`` producer."""
    try:
        doc = json.loads(msg.value or b"")
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        return msg
    tags = {**msg.tags, "reason": b"not a JSON object"}
    return to("invalid", Message(value=msg.value, key=msg.key, tags=tags))
