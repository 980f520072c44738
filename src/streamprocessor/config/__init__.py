"""Consumer and producer configuration: models, options pipeline, environment, durations.

A config is built in the original's order: defaults, then options in code, then the
environment (``CONSUMER_KAFKA_BROKERS``, ``PRODUCER2_PRODUCER_KAFKA_TOPIC``, … — see
:data:`~streamprocessor.config.variables.VARIABLES`), then a final validation::

    from streamprocessor import options
    from streamprocessor.config import new_consumer_config

    config = new_consumer_config(options.kafka_broker("localhost:9092"))
    config.kafka.commit_interval   # datetime.timedelta(seconds=5)

Modules: ``models`` and ``kafka`` (the pydantic models), ``variables`` (the table of
environment variables), ``parsing`` and ``env`` (reading them), ``durations`` (Go
duration strings), ``build`` (the pipeline), ``redact`` (printing without secrets).

The package imports its modules (and with them pydantic) only when one of these names is
first used, so a program that builds no config through it — the standard-stream clients
with their default settings — starts without loading pydantic.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
    from streamprocessor.config.kafka import (
        Compression,
        KafkaConsumerConfig,
        KafkaDebug,
        KafkaProducerConfig,
        Offset,
        Protocol,
        SASLConfig,
        SSLConfig,
    )
    from streamprocessor.config.models import (
        ConsumerConfig,
        InmemConsumerConfig,
        InmemProducerConfig,
        ProducerConfig,
        StandardstreamConsumerConfig,
        StandardstreamProducerConfig,
        validate_config,
    )
    from streamprocessor.config.redact import redacted_dict
    from streamprocessor.config.variables import (
        VARIABLES,
        ClientKind,
        Variable,
        env_prefix,
        variables_for,
    )
    from streamprocessor.stream.errors import ConfigError

__all__ = [
    "VARIABLES",
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


#: name → the module that defines it (imported on first use)
_WHERE: dict[str, str] = {
    "ConsumerOption": "build", "Option": "build", "ProducerOption": "build",
    "apply_options": "build", "new_consumer_config": "build",
    "new_producer_config": "build",
    "format_duration": "durations", "parse_duration": "durations",
    "client_type_from_env": "env", "dry_run": "env", "load_env": "env",
    "Compression": "kafka", "KafkaConsumerConfig": "kafka", "KafkaDebug": "kafka",
    "KafkaProducerConfig": "kafka", "Offset": "kafka", "Protocol": "kafka",
    "SASLConfig": "kafka", "SSLConfig": "kafka",
    "ConsumerConfig": "models", "InmemConsumerConfig": "models",
    "InmemProducerConfig": "models", "ProducerConfig": "models",
    "StandardstreamConsumerConfig": "models", "StandardstreamProducerConfig": "models",
    "validate_config": "models",
    "redacted_dict": "redact",
    "VARIABLES": "variables", "ClientKind": "variables", "Variable": "variables",
    "env_prefix": "variables", "variables_for": "variables",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    if name == "ConfigError":
        from streamprocessor.stream.errors import ConfigError

        return ConfigError
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
