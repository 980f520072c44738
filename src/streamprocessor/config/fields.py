"""Field types shared by the config models: durations, strict numbers, choices, streams.

Each is an ``Annotated`` type whose validators accept what a Python user naturally passes
(a ``timedelta`` or a Go duration string, a case-insensitive enum name) and reject the
rest with a message that says what is accepted. Values set from the environment are first
parsed by :mod:`streamprocessor.config.parsing`; these validators then check them again.
A client's own field types (file objects, librdkafka properties) are in its folder.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Annotated, TypeVar

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    SecretStr,
    Strict,
)

from streamprocessor.config.durations import DURATION_EXAMPLE, parse_duration

__all__ = [
    "DEFAULT_LOGGER_NAME",
    "Bool",
    "Count",
    "Duration",
    "Int64",
    "PositiveInt",
    "Secret",
    "StrictStr",
    "choice_validator",
    "default_logger",
    "non_empty_items",
    "text_problem",
]

T = TypeVar("T")

#: The logger every client uses unless ``options.logger(...)`` says otherwise.
DEFAULT_LOGGER_NAME = "streamprocessor"


def default_logger() -> logging.Logger:
    """Return the default logger, ``logging.getLogger("streamprocessor")``."""
    return logging.getLogger(DEFAULT_LOGGER_NAME)

_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1


def _duration_input(value: object) -> object:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, str):
        return parse_duration(value)
    # A bare number is ambiguous (Go meant nanoseconds, pydantic would mean seconds).
    raise ValueError(f"expected a timedelta or {DURATION_EXAMPLE}, not {type(value).__name__}")


def _not_negative(value: timedelta) -> timedelta:
    if value < timedelta(0):
        raise ValueError("must not be negative")
    return value


#: A non-negative duration: a ``timedelta`` or a Go duration string such as ``"5s"``.
Duration = Annotated[timedelta, BeforeValidator(_duration_input), AfterValidator(_not_negative)]


def text_problem(text: str) -> str:
    """Say why ``text`` cannot be handed to librdkafka (a C library), or return ``""``.

    A NUL would cut the string short in C; a lone surrogate is what Python makes of
    bytes that are not UTF-8 (environment variables, command lines) and cannot be
    encoded. The reason gives a position only, never the text: it may be a secret.
    """
    if "\x00" in text:
        return f"contains a NUL character at index {text.index(chr(0))}"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"not valid UTF-8: an undecodable byte at index {exc.start}"
    return ""


def _c_text(value: str) -> str:
    problem = text_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _c_secret(value: object) -> object:
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    if isinstance(text, str):
        _c_text(text)
    return value


#: A ``bool`` that must really be a bool (no ``"yes"``, no ``1``).
Bool = Annotated[bool, Strict()]
#: A ``str`` that must really be a str, and one librdkafka can take (UTF-8, no NUL).
StrictStr = Annotated[str, Strict(), AfterValidator(_c_text)]
#: A secret string (never shown), held to the same rule as :data:`StrictStr`.
Secret = Annotated[SecretStr, BeforeValidator(_c_secret)]
#: A 64-bit integer (Go's ``int``/``int64``), never a bool or a string.
Int64 = Annotated[int, Strict(), Field(ge=_INT64_MIN, le=_INT64_MAX)]
#: A non-negative 64-bit integer (0 usually means "leave librdkafka's default").
Count = Annotated[int, Strict(), Field(ge=0, le=_INT64_MAX)]
#: A positive 64-bit integer.
PositiveInt = Annotated[int, Strict(), Field(gt=0, le=_INT64_MAX)]


def choice_validator(choices: Mapping[str, T], what: str) -> Callable[[object], object]:
    """Build a validator mapping a case-insensitive name (``"End"``) to its value.

    ``choices`` maps each accepted lower-case name (aliases included) to the value stored.
    Values that are not strings pass through to the field's own validation.
    """
    canonical = list(dict.fromkeys(str(v) for v in choices.values()))

    def validate(value: object) -> object:
        if not isinstance(value, str):
            return value
        found = choices.get(value.strip().lower())
        if found is None:
            raise ValueError(f"{value!r} is not a {what}; expected one of {', '.join(canonical)}")
        return found

    return validate


def non_empty_items(values: list[str]) -> list[str]:
    """Reject empty (or all-blank) entries in a list of names such as brokers or topics."""
    for i, v in enumerate(values):
        if not v.strip():
            raise ValueError(f"an empty name is not allowed (entry {i + 1})")
    return values
