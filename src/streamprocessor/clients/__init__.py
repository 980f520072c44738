"""The client factory and the registry of client types.

``new_consumer`` / ``new_producer`` choose the client type from the environment (or a
pipe), as the original did. The registry maps a type name — the same word as the client's
folder and the ``*_CLIENT_TYPE`` value — to its module, imported only when chosen, so
importing streamprocessor never imports a client library.

Nor pydantic, which the configs are built with: a standard-stream client whose settings
are all defaults (no options, none of its variables in the environment) gets a
:class:`~streamprocessor.config.defaults.DefaultConfig`, and the real config is built only
when someone reads ``client.config``.
"""

from __future__ import annotations

import importlib
import os
import stat
from typing import TYPE_CHECKING, Any

from streamprocessor.config.defaults import DefaultConfig, Kind
from streamprocessor.config.env import defaults_apply, dry_run, env_client_type
from streamprocessor.stream.errors import UnknownClientError
from streamprocessor.stream.protocols import BatchConsumer, Producer

if TYPE_CHECKING:
    from streamprocessor.config.build import ConsumerOption, ProducerOption

__all__ = [
    "REGISTRY",
    "check_config",
    "client_types",
    "consumer_type",
    "new_consumer",
    "new_producer",
    "producer_type",
    "stdin_is_piped",
]

#: type name → (module, consumer class, producer class)
REGISTRY: dict[str, tuple[str, str, str]] = {
    "inmem": ("streamprocessor.clients.inmem", "InmemConsumer", "InmemProducer"),
    "kafka": ("streamprocessor.clients.kafka", "KafkaConsumer", "KafkaProducer"),
    "standardstream": (
        "streamprocessor.clients.standardstream",
        "StandardstreamConsumer",
        "StandardstreamProducer",
    ),
}


def client_types() -> list[str]:
    """Return the registered client type names, sorted."""
    return sorted(REGISTRY)


def _class(type_name: str, which: int) -> Any:
    module, *classes = REGISTRY[type_name]
    return getattr(importlib.import_module(module), classes[which])


def _unknown(kind: str, value: str, variable: str) -> UnknownClientError:
    import difflib

    valid = ", ".join(client_types())
    hint = difflib.get_close_matches(value, client_types(), n=1)
    maybe = f" (did you mean {hint[0]!r}?)" if hint else ""
    return UnknownClientError(
        f"unknown {kind} client type {value!r} in {variable}{maybe}: valid types are {valid}"
    )


def stdin_is_piped() -> bool:
    """Return whether stdin is a pipe, a socket or a redirected regular file.

    A terminal, ``/dev/null`` (a character device) or a closed stdin do not count.
    """
    try:
        mode = os.fstat(0).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISREG(mode)


def _variable(config: Any, kind: str) -> str:
    prefix = f"{config.name}_{kind}" if config.name else kind
    return f"{prefix.upper()}_CLIENT_TYPE"


def _with_defaults(kind: Kind, options: tuple[object, ...]) -> Any:
    """Return the standard-stream client with default settings when that is what is asked.

    That is: no options, none of the client's variables set, and the client type
    standardstream (set, or chosen by a piped stdin / ``DRY_RUN``). Otherwise None: the
    caller builds the config and decides as always (errors included).
    """
    if not defaults_apply(kind, options):
        return None
    if kind == "producer" and dry_run():
        chosen = "standardstream"
    else:
        chosen = (env_client_type(kind) or "").strip().lower()
        if not chosen and kind == "consumer" and stdin_is_piped():
            chosen = "standardstream"
    if chosen != "standardstream":
        return None
    return _class(chosen, 0 if kind == "consumer" else 1)(DefaultConfig(kind, chosen))


def new_consumer(*options: ConsumerOption | None) -> BatchConsumer:
    """Return the consumer the environment asks for.

    ``CONSUMER_CLIENT_TYPE`` (or ``<NAME>_CONSUMER_CLIENT_TYPE``, fallback ``CLIENT_TYPE``;
    case-insensitive) wins; an unknown value is an error even when stdin is piped. Without
    it, a piped or redirected stdin selects ``standardstream``; otherwise this raises
    :class:`UnknownClientError` saying how to choose.
    """
    quick = _with_defaults("consumer", options)
    if quick is not None:
        consumer: BatchConsumer = quick
        return consumer
    from streamprocessor.config import new_consumer_config

    config = new_consumer_config(*options)
    config.type = consumer_type(config)
    consumer = _class(config.type, 0)(config)
    return consumer


def consumer_type(config: Any) -> str:
    """Return the consumer type ``new_consumer`` chooses for ``config``; raise as it does.

    Raises :class:`UnknownClientError` naming the variable the unknown type came from.
    """
    from streamprocessor.config.env import client_type_source

    type_name, source = client_type_source(config, "consumer")
    if type_name:
        if type_name not in REGISTRY:
            raise _unknown("consumer", type_name, source)
    elif stdin_is_piped():
        type_name = "standardstream"
    else:
        raise UnknownClientError(
            "unable to determine the consumer client type: set "
            f"{_variable(config, 'consumer')} to one of {', '.join(client_types())}, "
            "or pipe input into stdin"
        )
    return type_name


def new_producer(*options: ProducerOption | None) -> Producer:
    """Return the producer the environment asks for.

    ``DRY_RUN`` (present, any value) selects ``standardstream`` (stdout); otherwise
    ``PRODUCER_CLIENT_TYPE`` (or ``<NAME>_PRODUCER_CLIENT_TYPE``, fallback ``CLIENT_TYPE``).
    Without either this raises :class:`UnknownClientError` saying how to choose.
    """
    quick = _with_defaults("producer", options)
    if quick is not None:
        producer: Producer = quick
        return producer
    from streamprocessor.config import new_producer_config

    config = new_producer_config(*options)
    config.type = producer_type(config)
    producer = _class(config.type, 1)(config)
    return producer


def producer_type(config: Any) -> str:
    """Return the producer type ``new_producer`` chooses for ``config``; raise as it does."""
    from streamprocessor.config.env import client_type_source

    if dry_run():
        type_name = "standardstream"
    else:
        type_name, source = client_type_source(config, "producer")
        if not type_name:
            raise UnknownClientError(
                "unable to determine the producer client type: set "
                f"{_variable(config, 'producer')} to one of {', '.join(client_types())}, "
                "or set DRY_RUN=1 to write to stdout"
            )
        if type_name not in REGISTRY:
            raise _unknown("producer", type_name, source)
    return type_name


#: type name → (module, consumer check, producer check): the IO-free checks a client
#: runs on its config before it connects, for ``--print-config``
_CHECKS: dict[str, tuple[str, str, str]] = {
    "kafka": (
        "streamprocessor.clients.kafka.properties",
        "consumer_properties",
        "producer_properties",
    ),
}


def check_config(kind: Kind, type_name: str, config: Any) -> None:
    """Refuse ``config`` as a ``type_name`` client would at start, without connecting."""
    found = _CHECKS.get(type_name)
    if found is not None:
        module, *checks = found
        getattr(importlib.import_module(module), checks[kind == "producer"])(config)
