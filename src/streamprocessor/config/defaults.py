"""A client's default config without pydantic, for the standard-stream clients' quick start.

``new_consumer()``/``new_producer()`` called without options, in an environment that sets
none of the client's variables (``CONSUMER_*``/``PRODUCER_*`` and the bare legacy names;
the client type aside: see :func:`~streamprocessor.config.env.defaults_apply`), would
build a config holding nothing but defaults. For the
standard-stream clients the factory then passes a :class:`DefaultConfig` instead: the
same values, without importing pydantic or building a model (together ~0.1 s at start,
as much as ~300 000 lines through the echo processor).

The real ``ConsumerConfig``/``ProducerConfig`` is built — exactly as the factory would
have built it — the first time anyone reads ``client.config``, so users never see the
difference. ``tests/unit/test_config_defaults.py`` checks that the values here are the
models' defaults.

This module must not import pydantic, nor any module that does.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any, Literal

__all__ = [
    "DEFAULT_LOGGER_NAME",
    "MAX_LINE_SIZE",
    "SHUTDOWN_TIMEOUT",
    "DefaultConfig",
    "Kind",
    "default_logger",
]

#: The logger every client uses unless ``options.logger(...)`` says otherwise.
DEFAULT_LOGGER_NAME = "streamprocessor"

#: ``standardstream.max_line_size``'s default (512 KiB)
MAX_LINE_SIZE = 524_288
#: ``shutdown_timeout``'s default
SHUTDOWN_TIMEOUT = timedelta(seconds=10)

Kind = Literal["consumer", "producer"]


def default_logger() -> logging.Logger:
    """Return the default logger, ``logging.getLogger("streamprocessor")``."""
    return logging.getLogger(DEFAULT_LOGGER_NAME)


class _Section:
    """A config section holding plain values."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)


class DefaultConfig:
    """The default config of a ``kind`` client, as plain values (no validation needed).

    It offers what a standard-stream client reads; :meth:`materialize` returns the real
    config object, built as ``new_consumer_config()``/``new_producer_config()`` would in
    an environment without the client's variables, with ``type`` set.
    """

    name = ""
    allow_environment_based_configuration = True
    handle_errors = True
    handle_interrupt = True
    shutdown_timeout = SHUTDOWN_TIMEOUT
    ack_barrier = None
    interrupt_coordinator = None

    def __init__(self, kind: Kind, type_name: str = "") -> None:
        self.kind = kind
        self.type = type_name
        if kind == "consumer":
            self.standardstream = _Section(reader=None, max_line_size=MAX_LINE_SIZE)
        else:
            self.standardstream = _Section(writer=None)

    @property
    def logger(self) -> logging.Logger:
        """The default logger."""
        return default_logger()

    def materialize(self) -> Any:
        """Return the real ``ConsumerConfig``/``ProducerConfig`` with these values."""
        from streamprocessor.config.build import new_consumer_config, new_producer_config

        build = new_consumer_config if self.kind == "consumer" else new_producer_config
        config = build(environ={})  # the environment held none of its variables
        config.type = self.type
        return config

    def __repr__(self) -> str:
        return f"<DefaultConfig {self.kind} {self.type!r}>"
