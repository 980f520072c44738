"""``Section``: the base of every config model, a client's section and the global part.

A section validates on assignment (``config.kafka.commit_interval = "1s"`` stores a
``timedelta``; a wrong value raises at once) and refuses unknown fields. ``printable``
turns it into JSON-able data without secrets for ``--print-config``; a section with
fields that need another form there (a file object, librdkafka properties) overrides
:meth:`Section.printable_value`.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr

from streamprocessor.config.durations import format_duration

__all__ = ["REDACTED", "Section", "describe", "redacted_dict"]

#: How a secret that is set is printed.
REDACTED = "********"


def describe(obj: object) -> str:
    """Return a short description of an object for printing: ``<Type 'name'>``."""
    name = getattr(obj, "name", None)
    label = type(obj).__name__
    return f"<{label} {name!r}>" if isinstance(name, str | int) else f"<{label}>"


class Section(BaseModel):
    """A config model: validated on assignment, no unknown fields, printable without secrets."""

    model_config = ConfigDict(
        validate_assignment=True, arbitrary_types_allowed=True, extra="forbid"
    )

    def printable(self) -> dict[str, Any]:
        """Return the fields as JSON-able data: secrets hidden, durations as Go strings."""
        return {k: self.printable_value(k, v) for k, v in self.__dict__.items()}

    def printable_value(self, key: str, value: Any) -> Any:
        """Return field ``key``'s ``value`` as :meth:`printable` shows it."""
        if isinstance(value, SecretStr):
            return REDACTED if value.get_secret_value() else ""
        if isinstance(value, Section):
            return value.printable()
        if isinstance(value, timedelta):
            return format_duration(value)
        if isinstance(value, Enum):
            return value.value
        if isinstance(value, logging.Logger):
            level = logging.getLevelName(value.getEffectiveLevel())
            return f"<logger {value.name!r} at {level}>"
        if isinstance(value, list | tuple):
            return [self.printable_value("", v) for v in value]
        if value is None or isinstance(value, str | int | float | bool):
            return value
        return describe(value)


def redacted_dict(config: Section) -> dict[str, Any]:
    """Return ``config`` as JSON-able data with no secret in it (``--print-config``).

    Durations are Go strings (``5s``), enums their names, secrets ``"********"`` when set
    (``""`` when not); each section shows its fields in its own way (Kafka: debug flags
    as librdkafka's string, secret librdkafka properties hidden; the store, logger and
    streams as short descriptions). Only the sections built so far appear.
    """
    return config.printable()
