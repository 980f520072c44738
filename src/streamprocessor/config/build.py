"""Building a config: defaults, then options in order, then the environment, then checks.

This is the original's precedence: a variable in the environment overrides
an option given in code, unless ``options.disable_environment_config()`` is among them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeAlias, TypeVar

from pydantic import ValidationError

from streamprocessor.config.env import load_env
from streamprocessor.config.models import (
    ConsumerConfig,
    ProducerConfig,
    describe_validation_error,
    validate_config,
)
from streamprocessor.stream.errors import ConfigError

__all__ = [
    "ConsumerOption",
    "Option",
    "ProducerOption",
    "apply_options",
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


def _build(
    config: _Config, options: tuple[Callable[[_Config], object] | None, ...], environ: Any
) -> _Config:
    config = apply_options(config, *options)
    if config.allow_environment_based_configuration:
        load_env(config, environ)
    return validate_config(config)


def new_consumer_config(
    *options: ConsumerOption | None, environ: Mapping[str, str] | None = None
) -> ConsumerConfig:
    """Return a consumer config: defaults, then ``options`` in order, then the environment.

    The environment (``CONSUMER_*`` or ``<NAME>_CONSUMER_*``; ``environ`` replaces
    ``os.environ`` in tests) is skipped when ``allow_environment_based_configuration`` is
    false. Raises :class:`ConfigError` naming the option or variable at fault.
    """
    return _build(ConsumerConfig(), options, environ)


def new_producer_config(
    *options: ProducerOption | None, environ: Mapping[str, str] | None = None
) -> ProducerConfig:
    """Return a producer config: defaults, then ``options`` in order, then the environment.

    The same pipeline as :func:`new_consumer_config`, with ``PRODUCER_*`` variables.
    """
    return _build(ProducerConfig(), options, environ)
