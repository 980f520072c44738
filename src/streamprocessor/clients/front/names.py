"""Producer topics and tag names a sink can send, each distinct name checked once."""

from __future__ import annotations

from collections.abc import Callable

from streamprocessor.stream.errors import InvalidMessageError
from streamprocessor.stream.message import Message, field_problem

__all__ = ["SendableNames"]

#: distinct names remembered as checked (then they are forgotten and checked again)
_KNOWN_NAMES = 10_000


class SendableNames:
    """Refuses a message whose ``producer_topic`` or a tag name cannot be sent.

    A NUL, a lone surrogate or a name ``topic_problem`` refuses would crash or end C code;
    such a message raises :class:`InvalidMessageError` before anything is sent. A sink
    calls :meth:`check` for a message with a topic or tags.
    """

    def __init__(self, topic_problem: Callable[[str], str | None] | None = None) -> None:
        self._topic_problem = topic_problem
        self._topics: set[str] = set()
        self._tags: set[str] = set()

    def check(self, msg: Message) -> None:
        """Raise InvalidMessageError unless every name of ``msg`` is sendable."""
        from streamprocessor.clients.base import message_error

        topic = msg.producer_topic
        tags = msg.tags
        try:
            if (not topic or topic in self._topics) and (not tags or self._tags.issuperset(tags)):
                return
        except TypeError:  # unhashable: a field of the wrong type
            raise message_error(msg) from None
        problem = field_problem(msg)
        if problem is None and topic and self._topic_problem is not None:
            bad = self._topic_problem(topic)
            if bad is not None:
                problem = f"producer_topic {topic!r} {bad}"
        if problem is not None:
            raise InvalidMessageError(f"cannot send a message whose {problem}")
        if len(self._topics) + len(self._tags) > _KNOWN_NAMES:
            self._topics.clear()
            self._tags.clear()
        if topic:
            self._topics.add(topic)
        self._tags.update(tags)
