"""Handlers: loading ``MODULE:FUNCTION``, routing their results, dead-letter messages.

A handler is any callable taking one :class:`~streamprocessor.Message` and returning

- ``None``: nothing to produce (a filter dropping the message);
- a ``Message``: sent to the default producer;
- ``to("name", msg)``: sent to the extra producer named ``name``;
- an iterable (list, tuple, generator) of the two above: everything is sent, in order.

The result is taken in full and every message in it checked (``value`` and ``key`` bytes
or None) before anything is sent, so a handler that fails halfway through a generator, or
returns one unsendable message among several, has sent nothing, and a retry does not send
twice. A result that is not of these forms is a handler failure like an exception
(:class:`HandlerOutputError`): retries and the error policy apply to it.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple, TypeAlias

from streamprocessor.clients.validation import field_problem
from streamprocessor.stream import ConfigError, Message, StreamProcessorError

__all__ = [
    "DEAD_LETTER_TAGS",
    "DEFAULT_PRODUCER",
    "Handler",
    "HandlerError",
    "HandlerFailedError",
    "HandlerOutputError",
    "Routed",
    "check_handler",
    "check_output",
    "describe",
    "load_handler",
    "output_error",
    "to",
]

#: The name of the default producer (``PRODUCER_*``); ``to(DEFAULT_PRODUCER, m)`` is ``m``.
DEFAULT_PRODUCER = "producer"

#: Tags added to a dead-lettered message: what failed, how, how often, where it came from.
DEAD_LETTER_TAGS = (
    "error",
    "error.type",
    "error.attempts",
    "source.topic",
    "source.partition",
    "source.offset",
    "source.line",
)


class Routed(NamedTuple):
    """A message routed to a named producer (build it with :func:`to`)."""

    producer: str
    message: Message


def to(producer: str, message: Message) -> Routed:
    """Route ``message`` to the extra producer named ``producer`` (``--producer NAME``).

    The producer is configured by the ``<NAME>_PRODUCER_*`` environment variables, e.g.
    ``to("invalid", msg)`` with ``INVALID_PRODUCER_KAFKA_TOPIC=invalid-messages``.
    """
    return Routed(producer, message)


Output: TypeAlias = Message | Routed | Iterable[Message | Routed] | None
#: What the runner calls for every message.
Handler: TypeAlias = Callable[[Message], Any]


class HandlerError(StreamProcessorError):
    """Base class of the runner's handler errors."""


class HandlerOutputError(HandlerError, TypeError):
    """The handler returned something the runner cannot send.

    Not a message, a message whose ``value`` or ``key`` is not bytes or None, or a message
    routed to a producer that is not configured. The runner treats it as the handler's
    failure: retries and the error policy apply.
    """


class HandlerFailedError(HandlerError):
    """The handler failed on a message and the error policy is ``stop``.

    ``message`` is the input message (not acknowledged), ``attempts`` how often the
    handler was called for it; ``__cause__`` is the handler's own exception.
    """

    def __init__(self, message: Message, error: BaseException, attempts: int) -> None:
        super().__init__(
            f"handler failed on {describe(message)} after {attempts} attempt(s): "
            f"{type(error).__name__}: {error}"
        )
        self.message = message
        self.error = error
        self.attempts = attempts


def describe(msg: Message) -> str:
    """Say which message this is, for log lines: topic, partition, offset and key when known.

    A line of standard input is named by its number: "line N" (1 first).
    """
    parts = []
    if msg.consumer_topic:
        parts.append(f"topic {msg.consumer_topic!r}")
    if msg.partition is not None:
        parts.append(f"partition {msg.partition}")
    if msg.offset is not None:
        parts.append(f"line {msg.offset + 1}" if msg._counts_lines else f"offset {msg.offset}")
    if msg.key is not None:
        key = msg.key if len(msg.key) <= 40 else msg.key[:40] + b"..."
        parts.append(f"key {key!r}")
    return "message (" + ", ".join(parts) + ")" if parts else "message"


def check_output(msg: Message, producer: str = DEFAULT_PRODUCER) -> Message:
    """Return ``msg`` if a producer can send it; raise :class:`HandlerOutputError` if not.

    A result of several messages is checked in full before any is sent; a single message
    goes straight to ``send``, whose refusal becomes the same failure (the runner words
    it with :func:`output_error`). ``producer`` names the output's producer.
    """
    error = output_error(msg, producer)
    if error is not None:
        raise error
    return msg


def output_error(msg: Message, producer: str = DEFAULT_PRODUCER) -> HandlerOutputError | None:
    """Return the handler's failure for an output of the wrong type (``None``: none).

    It names the output (and its producer when not the default), the field, the type it
    must have and how to fix it. A name a producer cannot take (a NUL, a lone surrogate,
    a topic the backend refuses) is left to the producer's own refusal.
    """
    v = msg.value
    k = msg.key
    if (
        (v.__class__ is bytes or v is None)
        and (k is None or k.__class__ is bytes)
        and ((ts := msg.timestamp) is None or ts.__class__ is datetime)
        and not msg.tags  # (tags are checked one by one below)
        and msg.producer_topic.__class__ is str
    ):
        return None
    whose = field_problem(msg)
    if whose is None:
        return None
    where = "" if producer == DEFAULT_PRODUCER else f" for producer {producer!r}"
    return HandlerOutputError(f"the handler returned a Message{where} whose {whose}")


def outputs(result: object) -> list[tuple[str, Message]]:
    """Turn a handler's result into ``(producer name, message)`` pairs, in order.

    Raises :class:`HandlerOutputError` for anything but the documented forms (bytes and
    str are refused although they are iterable: a handler returning ``msg.value`` is a bug)
    and for a message whose ``value`` or ``key`` is not bytes or None
    (:func:`check_output`). Nothing is returned unless every message passes.
    """
    if result is None:
        return []
    if isinstance(result, Message):
        return [(DEFAULT_PRODUCER, check_output(result))]
    if isinstance(result, Routed):
        return [_routed(result)]
    if inspect.isawaitable(result):  # a plain function that returned a coroutine
        close = getattr(result, "close", None)
        if close is not None:
            close()  # no "never awaited" warning: the message says it
        raise HandlerOutputError(
            f"the handler returned {type(result).__name__}: async handlers are not "
            f"supported yet; {_SUPPORTED}"
        )
    if isinstance(result, str | bytes | bytearray | memoryview | dict) or not isinstance(
        result, Iterable
    ):
        raise HandlerOutputError(
            f"the handler returned {type(result).__name__}: return None, a Message, "
            "to(name, message) or an iterable of those"
        )
    out: list[tuple[str, Message]] = []
    for item in result:
        if isinstance(item, Message):
            out.append((DEFAULT_PRODUCER, check_output(item)))
        elif isinstance(item, Routed):
            out.append(_routed(item))
        else:
            raise HandlerOutputError(
                f"the handler produced a {type(item).__name__}: produce Message objects "
                "(or to(name, message) for an extra producer)"
            )
    return out


def _routed(r: Routed) -> tuple[str, Message]:
    if not isinstance(r.message, Message):
        raise HandlerOutputError(
            f"to({r.producer!r}, ...) got a {type(r.message).__name__}, not a Message"
        )
    name = r.producer or DEFAULT_PRODUCER
    return (name, check_output(r.message, name))


def dead_letter(msg: Message, error: BaseException, attempts: int, topic: str) -> Message:
    """Return the dead-letter copy of ``msg``: same key and value, the error in its tags."""
    dl = Message(
        value=msg.value,
        key=msg.key,
        timestamp=msg.timestamp,
        tags=dict(msg.tags),
        producer_topic=topic,
    )
    text = f"{error}" or type(error).__name__
    dl.tags["error"] = text.encode("utf-8", "backslashreplace")
    dl.tags["error.type"] = _qualname(type(error)).encode()
    dl.tags["error.attempts"] = str(attempts).encode()
    if msg.consumer_topic:
        dl.tags["source.topic"] = msg.consumer_topic.encode()
    if msg.partition is not None:
        dl.tags["source.partition"] = str(msg.partition).encode()
    if msg.offset is not None:
        dl.tags["source.offset"] = str(msg.offset).encode()
        if msg._counts_lines:  # a line of standard input: its number, as log lines say
            dl.tags["source.line"] = str(msg.offset + 1).encode()
    return dl


def _qualname(cls: type) -> str:
    mod = cls.__module__
    return cls.__qualname__ if mod == "builtins" else f"{mod}.{cls.__qualname__}"


def load_handler(spec: str) -> Handler:
    """Import ``MODULE:FUNCTION`` (or ``path/to/file.py:FUNCTION``) and return the callable.

    ``FUNCTION`` may be a dotted path (``module:obj.method``). The current directory is
    importable, as with ``python -m``. Raises :class:`ConfigError` saying what is wrong.
    """
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(
            f"invalid handler {spec!r}: expected MODULE:FUNCTION, e.g. myproject.handlers:handle"
        )
    module = _import(module_name)
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigError(
                f"invalid handler {spec!r}: {module_name} has no attribute {attr!r}"
            ) from None
    if not callable(obj):
        raise ConfigError(f"invalid handler {spec!r}: {attr} is a {type(obj).__name__}, "
                          f"not a function; {_SUPPORTED}")
    return check_handler(obj, spec)


_SUPPORTED = "a handler is a plain function taking one Message, e.g. def handle(msg): ..."


def check_handler(handler: Any, spec: str = "") -> Handler:
    """Return ``handler`` if the runner can call it with one message; ConfigError if not.

    Refused: an ``async def`` function or async generator function (async handlers are
    not supported yet), and a callable whose signature cannot take one argument. A
    callable without a signature (some builtins) is accepted.
    """
    what = f"invalid handler {spec!r}" if spec else "invalid handler"
    if not callable(handler):
        raise ConfigError(f"{what}: a {type(handler).__name__} is not callable; {_SUPPORTED}")
    call = getattr(handler, "__call__", None)  # noqa: B004 (an object's async __call__)
    if any(
        inspect.iscoroutinefunction(f) or inspect.isasyncgenfunction(f) for f in (handler, call)
    ):
        raise ConfigError(
            f"{what}: it is an async function; async handlers are not supported yet: "
            f"{_SUPPORTED} (call asyncio.run(...) inside it if you must)"
        )
    try:
        signature = inspect.signature(handler)
    except (ValueError, TypeError):
        signature = None  # nothing to check against
    checked: Handler = handler
    if signature is None:
        return checked
    try:
        signature.bind(None)
    except TypeError as exc:
        raise ConfigError(
            f"{what}: it cannot be called with one message ({exc}; its signature is "
            f"{signature}); {_SUPPORTED}"
        ) from None
    return checked


def _import(module_name: str) -> Any:
    if module_name.endswith(".py") or "/" in module_name:
        path = Path(module_name)
        if not path.is_file():
            raise ConfigError(f"invalid handler: no such file {module_name!r}")
        name = path.stem
        folder = str(path.resolve().parent)
        if folder not in sys.path:  # as `python file.py` does: siblings are importable
            sys.path.insert(0, folder)
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ConfigError(f"invalid handler: cannot load {module_name!r} as Python")
        module = importlib.util.module_from_spec(spec)
        sys.modules.setdefault(name, module)
        spec.loader.exec_module(module)
        return module
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, "")
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name + ".").startswith(exc.name + "."):
            raise ConfigError(
                f"invalid handler: no module named {exc.name!r} "
                f"(run from the directory that holds it, or set PYTHONPATH)"
            ) from None
        raise
