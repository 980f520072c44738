"""Building a config: defaults, then options in order, then the environment, then checks.

This is the original's precedence: a variable in the environment overrides
an option given in code, unless ``options.disable_environment_config()`` is among them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

from pydantic import ValidationError

import streamprocessor.clients.registry as registry
from streamprocessor.config.env import apply_variables, known_type
from streamprocessor.config.models import (
    ConsumerConfig,
    ProducerConfig,
    describe_validation_error,
    validate_config,
)
from streamprocessor.config.variables import GLOBAL_VARIABLES
from streamprocessor.stream.errors import ConfigError

if TYPE_CHECKING:
    from streamprocessor.config.variables import ClientKind

__all__ = [
    "ConsumerOption",
    "Option",
    "ProducerOption",
    "apply_options",
    "build_config",
    "new_consumer_config",
    "new_producer_config",
]

#: An option: any callable that takes a config and changes it in place, or returns a
#: new config of the same type (which then replaces it). Its other return values are
#: ignored. ``Option`` suits both sides (every option of ``streamprocessor.options``);
#: a function that knows only one side's config is a ``ConsumerOption`` or a
#: ``ProducerOption``, accepted where only that side is built.
Option: TypeAlias = Callable[[ConsumerConfig | ProducerConfig], object]
ConsumerOption: TypeAlias = Callable[[ConsumerConfig], object]
ProducerOption: TypeAlias = Callable[[ProducerConfig], object]

_Config = TypeVar("_Config", ConsumerConfig, ProducerConfig)


def apply_options(config: _Config, *options: Callable[[_Config], object] | None) -> _Config:
    """Apply ``options`` to ``config`` in order (None skipped) and return the result.

    ``config`` itself is changed by options that change in place. A pydantic validation
    error raised by an option becomes a :class:`ConfigError` naming the option.
    """
    for number, option in enumerate(options, 1):
        if option is None:
            continue
        if not callable(option):
            raise ConfigError(f"option {number} is not callable: {option!r}")
        try:
            result = option(config)
        except ValidationError as exc:
            raise ConfigError(
                f"option {number} ({option!r}) set an invalid value: "
                f"{describe_validation_error(exc)}"
            ) from exc
        if isinstance(result, type(config)):
            config = result
    return config


def build_config(
    kind: ClientKind,
    options: Iterable[Callable[[Any], object] | None],
    environ: Mapping[str, str] | None = None,
    choose: Callable[[Any], str] | None = None,
) -> Any:
    """Build a ``kind`` config: defaults, ``options``, the environment, a last check.

    ``choose(config)`` (the client factories pass one) returns the client type once the
    options and the global variables are applied; only that type's variables are then
    read. Without it the type is the config's (``*_CLIENT_TYPE`` included), and when that
    is no known type every built-in type's variables are read.
    """
    config: ConsumerConfig | ProducerConfig
    if kind == "consumer":
        config = apply_options(ConsumerConfig(), *options)
    else:
        config = apply_options(ProducerConfig(), *options)
    from_env = config.allow_environment_based_configuration
    if from_env:
        apply_variables(config, (v for v in GLOBAL_VARIABLES if v.applies_to(kind)), environ)
    if choose is not None:
        config.type = choose(config)
    if from_env:
        types = [config.type] if choose is not None else known_type(config)
        apply_variables(config, registry.type_variables(kind, types), environ)
    return validate_config(config)


def new_consumer_config(
    *options: ConsumerOption | None, environ: Mapping[str, str] | None = None
) -> ConsumerConfig:
    """Return a consumer config: defaults, then ``options`` in order, then the environment.

    The environment (``CONSUMER_*`` or ``<NAME>_CONSUMER_*``; ``environ`` replaces
    ``os.environ`` in tests) is skipped when ``allow_environment_based_configuration`` is
    false. The variables read are the global ones and those of the config's client type
    (``CONSUMER_CLIENT_TYPE`` or set in code), or of every built-in type when it has
    none. Raises :class:`ConfigError` naming the option or variable at fault.
    """
    config: ConsumerConfig = build_config("consumer", options, environ)
    return config


def new_producer_config(
    *options: ProducerOption | None, environ: Mapping[str, str] | None = None
) -> ProducerConfig:
    """Return a producer config: defaults, then ``options`` in order, then the environment.

    The same pipeline as :func:`new_consumer_config`, with ``PRODUCER_*`` variables.
    """
    config: ProducerConfig = build_config("producer", options, environ)
    return config
