"""What is wrong with an outgoing message, for producers and the runner.

:func:`problem` is the one check (and wording) of a message no producer can send;
:func:`refusal` builds the :class:`InvalidMessageError` from it. A producer checks the
common case on its own fast path and calls :meth:`SentNames.check` (which remembers the
topic and tag names found sendable) on its slow path. A backend's own
rule for topic names is passed in as ``topic_rule``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from streamprocessor.stream.errors import InvalidMessageError
from streamprocessor.stream.message import Message

__all__ = ["SentNames", "TopicRule", "a_kind", "field_problem", "problem", "refusal"]

#: says why a backend cannot send to a topic name (``None``: it can)
TopicRule = Callable[[str], str | None]

#: distinct names a producer remembers as checked (then it forgets and checks them again)
_KNOWN_NAMES = 10_000
_BYTES = frozenset({bytes})


def a_kind(value: object) -> str:
    """Return "a str", "an int", …: the article and the name of ``value``'s type."""
    kind = type(value).__name__
    return f"{'an' if kind[:1] in 'aeiou' else 'a'} {kind}"


def problem(msg: object, topic_rule: TopicRule | None = None) -> str | None:
    """Say what in ``msg`` no producer can send (``None``: it can be sent).

    The text completes "cannot send …": "a dict: send a streamprocessor.Message, …" or
    "a Message whose value is a str: value must be bytes or None (…)".
    """
    if not isinstance(msg, Message):
        if hasattr(msg, "__await__"):  # (a coroutine, a task, a future)
            return (
                f"{a_kind(msg)}: an `async def` function was called without `await`; "
                "send the Message it returns: producer.send(await make_message(...))"
            )
        return f"{a_kind(msg)}: send a streamprocessor.Message, e.g. Message(value=b'...')"
    whose = field_problem(msg, topic_rule)
    return None if whose is None else f"a Message whose {whose}"


def refusal(msg: object, topic_rule: TopicRule | None = None) -> InvalidMessageError:
    """Return the error for a ``msg`` a producer refuses (nothing of it was sent)."""
    return InvalidMessageError(f"cannot send {problem(msg, topic_rule) or repr(msg)}")


def field_problem(msg: Message, topic_rule: TopicRule | None = None) -> str | None:
    """Say which field of ``msg`` cannot be sent, and how to fix it (``None``: none).

    The text completes "a Message whose …". ``topic_rule`` is the backend's own rule for
    a ``producer_topic`` name.
    """
    for name in ("value", "key"):
        v = getattr(msg, name)
        if v is not None and not isinstance(v, bytes):  # (bytes subclasses are sent as bytes)
            return f"{name} is {a_kind(v)}: {name} must be bytes or None ({_fix(name, v)})"
    ts = msg.timestamp
    if ts is not None and not isinstance(ts, datetime):
        return (
            f"timestamp is {a_kind(ts)}: timestamp must be a datetime or None "
            "(e.g. datetime.fromtimestamp(seconds, UTC))"
        )
    tags = msg.tags
    if not isinstance(tags, dict):
        return f"tags is {a_kind(tags)}: tags must be a dict of str to bytes"
    for k, v in tags.items():
        if not isinstance(k, str):
            return f"tag key {k!r} is {a_kind(k)}: tag keys must be str"
        if (bad := _name_problem(k)) is not None:
            return f"tag key {k!r} {bad}"
        if v is not None and not isinstance(v, bytes | str):
            return f"tag {k!r} is {a_kind(v)}: tag values must be bytes (e.g. str(value).encode())"
        if isinstance(v, str) and not v.isascii():
            try:
                v.encode()
            except UnicodeEncodeError:
                return (
                    f"tag {k!r} is a str with a lone surrogate: tag values must be bytes "
                    "(e.g. value.encode('utf-8', 'surrogateescape'))"
                )
    topic = msg.producer_topic
    if not isinstance(topic, str):
        return (
            f"producer_topic is {a_kind(topic)}: producer_topic must be a str "
            "('' sends to the producer's own topic)"
        )
    if topic and (bad := _name_problem(topic) or (topic_rule and topic_rule(topic))):
        return f"producer_topic {topic!r} {bad}"
    return None


def _fix(name: str, v: object) -> str:
    if isinstance(v, str):
        return f"make it bytes: {name}.encode()"
    if isinstance(v, bytearray | memoryview):
        return f"make it bytes: bytes({name})"
    if isinstance(v, int | float):
        return f"make it bytes: str({name}).encode()"
    return f"make it bytes: serialize it, e.g. json.dumps({name}).encode()"


def _name_problem(name: str) -> str | None:
    """Say why ``name`` (a topic or tag name) cannot be sent: a NUL or a lone surrogate.

    Such a name ends or crashes C code (librdkafka, the encoders). The text completes
    "producer_topic 'x' …".
    """
    if "\0" in name:
        return "holds a NUL character ('\\0'): names must be text without NUL"
    if not name.isascii():
        try:
            name.encode()
        except UnicodeEncodeError:
            return (
                "is not valid Unicode (a lone surrogate, e.g. from bytes decoded with "
                "errors='surrogateescape'): decode names with errors='replace', or keep "
                "them ASCII"
            )
    return None


class SentNames:
    """A producer's slow-path check: :func:`problem` once per distinct topic and tag name.

    A message with a ``producer_topic`` or tags goes through :meth:`check`; names found
    sendable are remembered, so a stream with the same few tags checks each name once.
    """

    __slots__ = ("_rule", "_tags", "_topics", "_values")

    def __init__(self, topic_rule: TopicRule | None = None, *, values: bool = True) -> None:
        """Check with ``topic_rule``; ``values=False`` leaves tag values to the backend.

        confluent_kafka refuses a tag value of the wrong type in ``produce``, which the
        Kafka producer turns into the same refusal; other producers check every value.
        """
        self._rule = topic_rule
        self._values = values
        self._topics: set[str] = set()
        self._tags: set[str] = set()

    def check(self, msg: object) -> None:
        """Raise :class:`InvalidMessageError` if ``msg`` cannot be sent (see :func:`problem`).

        Quick when every field has its usual type and the names were seen before.
        """
        try:
            v = msg.value  # type: ignore[attr-defined]
            k = msg.key  # type: ignore[attr-defined]
            topic = msg.producer_topic  # type: ignore[attr-defined]
            tags = msg.tags  # type: ignore[attr-defined]
            ts = msg.timestamp  # type: ignore[attr-defined]
            if (
                (v is None or v.__class__ is bytes)
                and (k is None or k.__class__ is bytes)
                and (not topic or topic in self._topics)
                and tags.__class__ is dict
                and (
                    not tags
                    or (
                        self._tags.issuperset(tags)
                        and (not self._values or _BYTES.issuperset(map(type, tags.values())))
                    )
                )
                and (ts is None or ts.__class__ is datetime)
            ):
                return
        except (AttributeError, TypeError):  # not a message, or unhashable names
            pass
        if problem(msg, self._rule) is not None:
            raise refusal(msg, self._rule) from None
        assert isinstance(msg, Message)
        if len(self._topics) + len(self._tags) > _KNOWN_NAMES:
            self._topics.clear()
            self._tags.clear()
        if msg.producer_topic:
            self._topics.add(msg.producer_topic)
        self._tags.update(msg.tags)
