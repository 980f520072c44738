"""``redacted_dict``: a config as JSON-able data with every secret hidden (``--print-config``)."""

from __future__ import annotations

import logging
from datetime import timedelta
from enum import Enum
from typing import Any

from pydantic import BaseModel, SecretStr

from streamprocessor.config.durations import format_duration
from streamprocessor.config.kafka import REDACTED, KafkaDebug, redact_properties
from streamprocessor.stores import default_store

__all__ = ["REDACTED", "redacted_dict"]

_STREAMS = {"reader": "stdin", "writer": "stdout"}


def _describe(obj: object) -> str:
    name = getattr(obj, "name", None)
    label = type(obj).__name__
    return f"<{label} {name!r}>" if isinstance(name, str | int) else f"<{label}>"


def _model(model: BaseModel) -> dict[str, Any]:
    return {k: _value(k, v) for k, v in model.__dict__.items()}


def _value(key: str, value: Any) -> Any:
    if isinstance(value, SecretStr):
        return REDACTED if value.get_secret_value() else ""
    if isinstance(value, KafkaDebug):
        return value.to_librdkafka()
    if isinstance(value, BaseModel):
        return _model(value)
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, logging.Logger):
        return f"<logger {value.name!r} at {logging.getLevelName(value.getEffectiveLevel())}>"
    if key == "librdkafka_config":
        return redact_properties(value)
    if key in _STREAMS:
        return _STREAMS[key] if value is None else _describe(value)
    if key == "store":
        return "<default InmemStore>" if value is default_store() else _describe(value)
    if isinstance(value, list | tuple):
        return [_value("", v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return _describe(value)


def redacted_dict(config: BaseModel) -> dict[str, Any]:
    """Return ``config`` as plain JSON-able data for printing, with no secret in it.

    Durations are Go strings (``5s``), enums their names, debug flags librdkafka's string,
    secrets ``"********"`` when set (``""`` when not), secret librdkafka properties
    (names containing ``password``, ``secret`` or ``sasl.oauthbearer.config``) likewise,
    and the store, logger, reader and writer short descriptions.
    """
    return _model(config)
