"""``ConsumerConfig`` and ``ProducerConfig``: global settings plus one section per client.

Every model validates on assignment, so ``config.kafka.commit_interval = "1s"`` stores a
``timedelta`` and ``config.kafka.offset_initial = "nonsense"`` raises at once. Secrets
(SSL and SASL passwords, secret librdkafka properties) never appear in ``repr``/``str``.
"""

from __future__ import annotations

import logging
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from streamprocessor.config.defaults import MAX_LINE_SIZE, SHUTDOWN_TIMEOUT
from streamprocessor.config.fields import (
    Bool,
    Duration,
    PositiveInt,
    Reader,
    StrictStr,
    Writer,
    default_logger,
)
from streamprocessor.config.kafka import KafkaConsumerConfig, KafkaProducerConfig
from streamprocessor.stores import default_store
from streamprocessor.stream.errors import ConfigError
from streamprocessor.stream.store import Store
from streamprocessor.util.barrier import AckBarrier
from streamprocessor.util.interrupts import ShutdownCoordinator

__all__ = [
    "ConsumerConfig",
    "InmemConsumerConfig",
    "InmemProducerConfig",
    "ProducerConfig",
    "StandardstreamConsumerConfig",
    "StandardstreamProducerConfig",
    "describe_validation_error",
    "pydantic_reason",
    "validate_config",
]

_C = TypeVar("_C", bound=BaseModel)


class _Section(BaseModel):
    model_config = ConfigDict(
        validate_assignment=True, arbitrary_types_allowed=True, extra="forbid"
    )


class InmemConsumerConfig(_Section):
    """The in-memory consumer section: the store to read and whether to read it once.

    ``consume_once`` (default) reads the messages present at start and ends, leaving the
    store untouched; ``False`` listens for new messages and removes acknowledged ones.
    """

    store: Store = Field(default_factory=default_store)
    consume_once: Bool = True


class InmemProducerConfig(_Section):
    """The in-memory producer section: the store written to."""

    store: Store = Field(default_factory=default_store)


class StandardstreamConsumerConfig(_Section):
    """The standard-stream consumer section: a binary reader (None: stdin), line limit."""

    reader: Reader = None
    max_line_size: PositiveInt = MAX_LINE_SIZE


class StandardstreamProducerConfig(_Section):
    """The standard-stream producer section: a binary writer (None: stdout)."""

    writer: Writer = None


class _Global(_Section):
    name: StrictStr = ""
    type: StrictStr = ""
    allow_environment_based_configuration: Bool = True
    handle_errors: Bool = True
    handle_interrupt: Bool = True
    logger: logging.Logger = Field(default_factory=default_logger)
    shutdown_timeout: Duration = SHUTDOWN_TIMEOUT
    #: the ack barrier the client joins (None: the process-wide one)
    ack_barrier: AckBarrier | None = None
    #: the interrupt coordinator the client registers with (None: the process-wide one)
    interrupt_coordinator: ShutdownCoordinator | None = None


class ConsumerConfig(_Global):
    """A consumer's whole configuration (Go ``streamconfig.Consumer``).

    Global fields: ``name`` (changes the environment prefix to ``<NAME>_CONSUMER``),
    ``type`` (the client type, ``CONSUMER_CLIENT_TYPE``), ``allow_environment_based_
    configuration``, ``handle_errors``, ``handle_interrupt``, ``logger``,
    ``shutdown_timeout``, ``ack_barrier`` and ``interrupt_coordinator``. Sections:
    ``inmem``, ``standardstream``, ``kafka``.
    """

    inmem: InmemConsumerConfig = Field(default_factory=InmemConsumerConfig)
    standardstream: StandardstreamConsumerConfig = Field(
        default_factory=StandardstreamConsumerConfig
    )
    kafka: KafkaConsumerConfig = Field(default_factory=KafkaConsumerConfig)


class ProducerConfig(_Global):
    """A producer's whole configuration (Go ``streamconfig.Producer``).

    The same global fields as :class:`ConsumerConfig` (prefix ``<NAME>_PRODUCER``) and
    the producer sections ``inmem``, ``standardstream`` and ``kafka``.
    """

    inmem: InmemProducerConfig = Field(default_factory=InmemProducerConfig)
    standardstream: StandardstreamProducerConfig = Field(
        default_factory=StandardstreamProducerConfig
    )
    kafka: KafkaProducerConfig = Field(default_factory=KafkaProducerConfig)


_BOUNDS = {
    "greater_than_equal": "must be at least {ge}",
    "greater_than": "must be greater than {gt}",
    "less_than_equal": "must be at most {le}",
    "less_than": "must be less than {lt}",
}


def pydantic_reason(err: Any) -> str:
    """Say what is wrong with one pydantic error in our words (``must be at least 0``)."""
    bound = _BOUNDS.get(err["type"])
    if bound is not None:
        return bound.format(**err.get("ctx", {}))
    return str(err["msg"]).removeprefix("Value error, ")


def describe_validation_error(exc: ValidationError) -> str:
    """Summarise a pydantic error as ``field.path: message; ...`` without input values."""
    parts = []
    for err in exc.errors(include_url=False, include_input=False):
        path = ".".join(str(p) for p in err["loc"])
        msg = pydantic_reason(err)
        parts.append(f"{path}: {msg}" if path else msg)
    return "; ".join(parts)


def _as_input(model: BaseModel) -> dict[str, Any]:
    # Plain field values, with sections as dicts, so every validator runs again. Objects
    # such as the store, the logger and the streams are passed on by reference.
    return {
        name: _as_input(value) if isinstance(value, BaseModel) else value
        for name, value in model.__dict__.items()
    }


def validate_config(config: _C) -> _C:
    """Validate a whole config again (options may have changed lists in place).

    Returns a new, fully validated config of the same type; raises ``ConfigError``
    naming each invalid field.
    """
    try:
        return type(config).model_validate(_as_input(config))
    except ValidationError as exc:
        raise ConfigError(f"invalid configuration: {describe_validation_error(exc)}") from exc
