"""The machinery behind :mod:`streamprocessor.options`: option objects and argument checks.

An option made here is a callable with a readable ``repr`` (``options.kafka_topic('a')``,
secrets shown as ``<hidden>``) that applies itself only to the side it concerns: a
consumer-only option leaves a ``ProducerConfig`` untouched, and the other way round.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Literal, TypeAlias

from pydantic import BaseModel, ValidationError

from streamprocessor.config.build import Option
from streamprocessor.config.models import (
    ConsumerConfig,
    ProducerConfig,
    pydantic_reason,
    section_model,
)
from streamprocessor.stream.errors import ConfigError

__all__ = ["Duration", "Side", "check", "checked", "fixed", "invalid", "make", "setter"]

#: Which configs an option changes.
Side = Literal["consumer", "producer", "both"]
#: What a duration option takes: a ``timedelta`` or a Go duration string (``"5s"``).
Duration: TypeAlias = timedelta | str
_TYPES: dict[Side, tuple[type[BaseModel], ...]] = {
    "consumer": (ConsumerConfig,),
    "producer": (ProducerConfig,),
    "both": (ConsumerConfig, ProducerConfig),
}


class _Option:
    """An option with a readable repr, e.g. ``options.kafka_topic('a')``."""

    __slots__ = ("_apply", "_side", "_text")

    def __init__(self, side: Side, text: str, apply: Callable[[Any], object]) -> None:
        self._side = side
        self._text = text
        self._apply = apply

    def __call__(self, config: ConsumerConfig | ProducerConfig) -> object:
        if isinstance(config, _TYPES[self._side]):
            return self._apply(config)
        return None

    def __repr__(self) -> str:
        return f"options.{self._text}"


def make(side: Side, text: str, apply: Callable[[Any], object]) -> Option:
    """Return an option that runs ``apply(config)`` on the configs of ``side`` only."""
    return _Option(side, text, apply)


def invalid(option: str, shown: str, why: str) -> ConfigError:
    """Return the error for a bad argument of ``options.<option>()``."""
    return ConfigError(f"invalid argument {shown} for options.{option}(): {why}")


def _owner_model(side: Side, path: list[str]) -> type[BaseModel]:
    model: type[BaseModel] = ProducerConfig if side == "producer" else ConsumerConfig
    if path:  # a client type's section first: ``kafka`` of ``kafka.topics``
        section = section_model("producer" if side == "producer" else "consumer", path[0])
        assert section is not None, f"no {side} section {path[0]!r}"
        model, path = section, path[1:]
    for part in path:
        annotation = model.model_fields[part].annotation
        assert isinstance(annotation, type) and issubclass(annotation, BaseModel)
        model = annotation
    return model


def _message(err: Any) -> str:
    msg = pydantic_reason(err)
    inner = ".".join(str(part) for part in err["loc"][1:])  # loc[0] is the field itself
    return f"{inner}: {msg}" if inner else msg


@functools.cache
def _prototype(model: type[BaseModel]) -> BaseModel:
    # model_construct() is slow (it inspects every default factory); a shallow copy of
    # one unvalidated instance is a cheap target for validate_assignment.
    return model.model_construct()


def check(option: str, model: type[BaseModel], field: str, value: object, shown: str) -> Any:
    """Validate ``value`` as an assignment to ``model.field`` would; return it converted."""
    try:
        checked = model.__pydantic_validator__.validate_assignment(
            _prototype(model).model_copy(), field, value
        )
    except ValidationError as exc:
        errors = exc.errors(include_input=False)
        why = "; ".join(_message(e) for e in errors)
        raise invalid(option, shown, why) from None
    return getattr(checked, field)


def _fresh(value: object) -> object:
    # A copy per config, so that two configs built with one option never share a list.
    if isinstance(value, BaseModel):
        return value.model_copy()
    return copy.copy(value) if isinstance(value, list | dict) else value


def _set_path(config: Any, path: list[str], attr: str, value: object) -> None:
    owner = config
    for part in path:
        owner = getattr(owner, part)
    setattr(owner, attr, value)


def checked(side: Side, option: str, field: str, arg: object, shown: str | None = None) -> Any:
    """Check ``arg`` as a value of the dotted ``field`` of ``side``'s config; return it."""
    *path, attr = field.split(".")
    return check(option, _owner_model(side, path), attr, arg, shown or repr(arg))


def setter(
    side: Side,
    option: str,
    field: str,
    arg: object,
    *,
    shown: str | None = None,
    text: str | None = None,
) -> Option:
    """Return an option setting the dotted ``field`` to ``arg``, checked now.

    ``shown`` replaces ``repr(arg)`` in messages and the repr (``"<hidden>"`` for
    secrets); ``text`` replaces the whole repr (``"kafka_debug()"``).
    """
    value = checked(side, option, field, arg, shown)
    *path, attr = field.split(".")
    text = text or f"{option}({shown or repr(arg)})"
    return make(side, text, lambda c: _set_path(c, path, attr, _fresh(value)))


def fixed(side: Side, option: str, field: str, value: object) -> Option:
    """Return the option ``<option>()`` that sets the dotted ``field`` to ``value``."""
    return setter(side, option, field, value, text=f"{option}()")
