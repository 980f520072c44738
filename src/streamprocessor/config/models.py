"""``ConsumerConfig`` and ``ProducerConfig``: global settings plus one section per client type.

The global fields are the same for every client. The sections are composed from the
registered client types (:mod:`streamprocessor.clients.registry`): ``config.kafka`` is
the Kafka type's section, built the first time it is read or set, so a config holds only
the sections somebody used — a standard-stream run never builds (nor imports) Kafka's.
A type from another package has its section under its own name, reachable once its type
is known (chosen, or one of its options applied), typed through
:meth:`ConsumerConfig.section`.

Every model validates on assignment, so ``config.kafka.commit_interval = "1s"`` stores a
``timedelta`` and ``config.kafka.offset_initial = "nonsense"`` raises at once. Secrets
(SSL and SASL passwords, secret librdkafka properties) never appear in ``repr``/``str``.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Self, TypeVar

from pydantic import BaseModel, Field, PrivateAttr, ValidationError

import streamprocessor.clients.registry as registry
from streamprocessor.config.fields import Bool, Duration, StrictStr, default_logger
from streamprocessor.config.section import Section
from streamprocessor.stream.errors import ConfigError
from streamprocessor.util.barrier import AckBarrier
from streamprocessor.util.interrupts import ShutdownCoordinator

if TYPE_CHECKING:
    from streamprocessor.clients.inmem.config import InmemConsumerConfig, InmemProducerConfig
    from streamprocessor.clients.kafka.config import KafkaConsumerConfig, KafkaProducerConfig
    from streamprocessor.clients.standardstream.config import (
        StandardstreamConsumerConfig,
        StandardstreamProducerConfig,
    )
    from streamprocessor.config.variables import ClientKind

__all__ = [
    "SHUTDOWN_TIMEOUT",
    "ClientConfig",
    "ConsumerConfig",
    "ProducerConfig",
    "describe_validation_error",
    "pydantic_reason",
    "section_model",
    "validate_config",
]

_C = TypeVar("_C", bound=BaseModel)
_S = TypeVar("_S", bound=Section)

#: ``shutdown_timeout``'s default
SHUTDOWN_TIMEOUT = timedelta(seconds=10)


def section_model(kind: ClientKind, name: str) -> type[Section] | None:
    """Return the model of ``kind`` configs' section ``name``, or None if there is none."""
    # Only built-in types and those already loaded: an attribute lookup never scans the
    # installed packages' entry points.
    spec = registry.loaded().get(name)
    if spec is None and name in registry.BUILT_IN:
        spec = registry.find(name)
    return spec.section(kind) if spec is not None else None


class ClientConfig(Section):
    """The global part every client config has; its sections are the client types'."""

    kind: ClassVar[ClientKind]

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

    _sections: dict[str, Section] = PrivateAttr(default_factory=dict)

    def __init__(self, **data: Any) -> None:
        sections = {
            k: data.pop(k)
            for k in list(data)
            if k not in type(self).model_fields and section_model(self.kind, k) is not None
        }
        super().__init__(**data)
        for key, value in sections.items():
            setattr(self, key, value)

    if not TYPE_CHECKING:

        def __getattr__(self, name: str) -> Any:
            if not name.startswith("_"):
                model = section_model(self.kind, name)
                if model is not None:
                    sections = self._sections
                    found = sections.get(name)
                    if found is None:
                        found = sections.setdefault(name, model())
                    return found
            return super().__getattr__(name)

        def __setattr__(self, name: str, value: Any) -> None:
            if not name.startswith("_") and name not in type(self).model_fields:
                model = section_model(self.kind, name)
                if model is not None:
                    if not isinstance(value, model):
                        value = model.model_validate(value)
                    self._sections[name] = value
                    return
            super().__setattr__(name, value)

    def sections(self) -> dict[str, Section]:
        """Return the sections built so far: type name → section."""
        return dict(self._sections)

    def section(self, model: builtins.type[_S]) -> _S:
        """Return the section of type ``model`` (built if needed), typed for mypy.

        ``config.section(KafkaConsumerConfig)`` is ``config.kafka``; a client type of
        another package reads its section this way.
        """
        for name, spec in registry.loaded().items():
            if spec.section(self.kind) is model:
                found = getattr(self, name)
                assert isinstance(found, model)
                return found
        raise ConfigError(
            f"{model.__name__} is not the {self.kind} section of a client type known here"
        )

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """Copy the config; a shallow copy shares the sections, never the set of them."""
        copied = super().model_copy(update=update, deep=deep)
        if not deep:
            copied._sections = dict(self._sections)
        return copied

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        yield from super().__repr_args__()
        yield from self._sections.items()

    def printable(self) -> dict[str, Any]:
        """Return the global fields and the built sections as JSON-able data, no secret."""
        out = super().printable()
        out.update((name, section.printable()) for name, section in self._sections.items())
        return out


class ConsumerConfig(ClientConfig):
    """A consumer's whole configuration (Go ``streamconfig.Consumer``).

    Global fields: ``name`` (changes the environment prefix to ``<NAME>_CONSUMER``),
    ``type`` (the client type, ``CONSUMER_CLIENT_TYPE``), ``allow_environment_based_
    configuration``, ``handle_errors``, ``handle_interrupt``, ``logger``,
    ``shutdown_timeout``, ``ack_barrier`` and ``interrupt_coordinator``. Sections: one
    per client type (``inmem``, ``standardstream``, ``kafka``, …).
    """

    kind: ClassVar[ClientKind] = "consumer"

    if TYPE_CHECKING:

        @property
        def inmem(self) -> InmemConsumerConfig:
            """The in-memory section."""

        @inmem.setter
        def inmem(self, value: InmemConsumerConfig | Mapping[str, Any]) -> None: ...

        @property
        def standardstream(self) -> StandardstreamConsumerConfig:
            """The standard-stream section."""

        @standardstream.setter
        def standardstream(
            self, value: StandardstreamConsumerConfig | Mapping[str, Any]
        ) -> None: ...

        @property
        def kafka(self) -> KafkaConsumerConfig:
            """The Kafka section."""

        @kafka.setter
        def kafka(self, value: KafkaConsumerConfig | Mapping[str, Any]) -> None: ...


class ProducerConfig(ClientConfig):
    """A producer's whole configuration (Go ``streamconfig.Producer``).

    The same global fields as :class:`ConsumerConfig` (prefix ``<NAME>_PRODUCER``) and
    one producer section per client type.
    """

    kind: ClassVar[ClientKind] = "producer"

    if TYPE_CHECKING:

        @property
        def inmem(self) -> InmemProducerConfig:
            """The in-memory section."""

        @inmem.setter
        def inmem(self, value: InmemProducerConfig | Mapping[str, Any]) -> None: ...

        @property
        def standardstream(self) -> StandardstreamProducerConfig:
            """The standard-stream section."""

        @standardstream.setter
        def standardstream(
            self, value: StandardstreamProducerConfig | Mapping[str, Any]
        ) -> None: ...

        @property
        def kafka(self) -> KafkaProducerConfig:
            """The Kafka section."""

        @kafka.setter
        def kafka(self, value: KafkaProducerConfig | Mapping[str, Any]) -> None: ...


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


def describe_validation_error(exc: ValidationError, path: str = "") -> str:
    """Summarise a pydantic error as ``field.path: message; ...`` without input values.

    ``path`` goes before every field path (a section's name).
    """
    parts = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(p) for p in (path, *err["loc"]) if p != "")
        msg = pydantic_reason(err)
        parts.append(f"{loc}: {msg}" if loc else msg)
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

    Returns a new, fully validated config of the same type, its sections too; raises
    ``ConfigError`` naming each invalid field.
    """
    problems = []
    try:
        checked = type(config).model_validate(_as_input(config))
    except ValidationError as exc:
        problems.append(describe_validation_error(exc))
    if isinstance(config, ClientConfig):
        sections = {}
        for name, section in config.sections().items():
            try:
                sections[name] = type(section).model_validate(_as_input(section))
            except ValidationError as exc:
                problems.append(describe_validation_error(exc, name))
        if not problems:
            assert isinstance(checked, ClientConfig)
            checked._sections = sections
    if problems:
        raise ConfigError(f"invalid configuration: {'; '.join(problems)}")
    return checked
