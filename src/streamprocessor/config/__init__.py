"""Consumer and producer configuration: models, options pipeline, environment, durations.

A config is built in the original's order: defaults, then options in code, then the
environment (``CONSUMER_KAFKA_BROKERS``, ``PRODUCER2_PRODUCER_KAFKA_TOPIC``, … — the
rows of :data:`VARIABLES`), then a final validation::

    from streamprocessor import options
    from streamprocessor.config import new_consumer_config

    config = new_consumer_config(options.kafka_broker("localhost:9092"))
    config.kafka.commit_interval   # datetime.timedelta(seconds=5)

Modules: ``section`` (the base of every config model, and its printing without
secrets), ``models`` (the consumer and producer configs: global fields plus the client
types' sections), ``fields`` (field types), ``variables`` (the variable row and the global
rows), ``parsing`` and ``env`` (reading them), ``durations`` (Go duration strings),
``build`` (the pipeline), ``optionkit`` (what option functions are made with). Each
client type's section, rows and options are in its own folder
(``streamprocessor.clients.kafka.config``, ``…spec``, ``…options``); the names below
that belong to one are re-exported from there.

The package imports its modules only when one of these names is first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from streamprocessor.clients.inmem.config import InmemConsumerConfig, InmemProducerConfig
    from streamprocessor.clients.kafka.config import (
        Compression,
        KafkaConsumerConfig,
        KafkaDebug,
        KafkaProducerConfig,
        Offset,
        Protocol,
        SASLConfig,
        SSLConfig,
    )
    from streamprocessor.clients.registry import variables_for
    from streamprocessor.clients.standardstream.config import (
        StandardstreamConsumerConfig,
        StandardstreamProducerConfig,
    )
    from streamprocessor.config.build import (
        ConsumerOption,
        Option,
        ProducerOption,
        apply_options,
        new_consumer_config,
        new_producer_config,
    )
    from streamprocessor.config.durations import format_duration, parse_duration
    from streamprocessor.config.env import client_type_from_env, dry_run, load_env
    from streamprocessor.config.models import (
        ClientConfig,
        ConsumerConfig,
        ProducerConfig,
        validate_config,
    )
    from streamprocessor.config.section import Section, redacted_dict
    from streamprocessor.config.variables import ClientKind, Variable, env_prefix
    from streamprocessor.stream.errors import ConfigError

    #: Every row a consumer or producer config can read: the global ones and those of
    #: every built-in client type (the runner's are in ``runner.SETTINGS``).
    VARIABLES: tuple[Variable, ...]

__all__ = [
    "VARIABLES",
    "ClientConfig",
    "ClientKind",
    "Compression",
    "ConfigError",
    "ConsumerConfig",
    "ConsumerOption",
    "InmemConsumerConfig",
    "InmemProducerConfig",
    "KafkaConsumerConfig",
    "KafkaDebug",
    "KafkaProducerConfig",
    "Offset",
    "Option",
    "ProducerConfig",
    "ProducerOption",
    "Protocol",
    "SASLConfig",
    "SSLConfig",
    "Section",
    "StandardstreamConsumerConfig",
    "StandardstreamProducerConfig",
    "Variable",
    "apply_options",
    "client_type_from_env",
    "dry_run",
    "env_prefix",
    "format_duration",
    "load_env",
    "new_consumer_config",
    "new_producer_config",
    "parse_duration",
    "redacted_dict",
    "validate_config",
    "variables_for",
]

_KAFKA = "streamprocessor.clients.kafka.config"
_INMEM = "streamprocessor.clients.inmem.config"
_STD = "streamprocessor.clients.standardstream.config"
_HERE = "streamprocessor.config."

#: name → the module that defines it (imported on first use)
_WHERE: dict[str, str] = {
    "ConsumerOption": _HERE + "build", "Option": _HERE + "build",
    "ProducerOption": _HERE + "build", "apply_options": _HERE + "build",
    "new_consumer_config": _HERE + "build", "new_producer_config": _HERE + "build",
    "format_duration": _HERE + "durations", "parse_duration": _HERE + "durations",
    "client_type_from_env": _HERE + "env", "dry_run": _HERE + "env",
    "load_env": _HERE + "env",
    "Compression": _KAFKA, "KafkaConsumerConfig": _KAFKA, "KafkaDebug": _KAFKA,
    "KafkaProducerConfig": _KAFKA, "Offset": _KAFKA, "Protocol": _KAFKA,
    "SASLConfig": _KAFKA, "SSLConfig": _KAFKA,
    "InmemConsumerConfig": _INMEM, "InmemProducerConfig": _INMEM,
    "StandardstreamConsumerConfig": _STD, "StandardstreamProducerConfig": _STD,
    "ClientConfig": _HERE + "models", "ConsumerConfig": _HERE + "models",
    "ProducerConfig": _HERE + "models", "validate_config": _HERE + "models",
    "redacted_dict": _HERE + "section", "Section": _HERE + "section",
    "ClientKind": _HERE + "variables", "Variable": _HERE + "variables",
    "env_prefix": _HERE + "variables",
    "variables_for": "streamprocessor.clients.registry",
    "ConfigError": "streamprocessor.stream.errors",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    if name == "VARIABLES":
        import streamprocessor.clients.registry as registry

        value: Any = (*registry.variables_for("consumer"), *(
            v for v in registry.variables_for("producer") if v.applies == "producer"
        ))
        globals()[name] = value
        return value
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
