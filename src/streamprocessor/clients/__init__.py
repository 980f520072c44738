"""The client factory: ``new_consumer`` / ``new_producer`` choose the client type.

The type comes from the environment (or a pipe, or ``DRY_RUN``), as the original did;
the registry (:mod:`streamprocessor.clients.registry`) maps its name to the client's
spec, imported only when chosen, so importing streamprocessor never imports a client
library. Each client folder (``inmem``, ``kafka``, ``standardstream``) holds all of its
type: ports, config sections, variables, options, conformance harness and spec.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import streamprocessor.clients.registry as registry
from streamprocessor.stream.errors import UnknownClientError

if TYPE_CHECKING:
    from streamprocessor.config.build import ConsumerOption, ProducerOption
    from streamprocessor.config.models import ClientConfig
    from streamprocessor.config.variables import ClientKind
    from streamprocessor.stream.protocols import (
        AsyncConsumer,
        AsyncProducer,
        BatchConsumer,
        Producer,
    )

__all__ = [
    "check_config",
    "client_config",
    "client_for",
    "client_types",
    "consumer_type",
    "lazy_names",
    "new_async_client",
    "new_async_consumer",
    "new_async_producer",
    "new_client",
    "new_consumer",
    "new_producer",
    "producer_type",
    "stdin_is_piped",
]


def client_types() -> list[str]:
    """Return the names of the client types, built-in and from other packages, sorted."""
    return registry.names()


def lazy_names(package: str, where: Mapping[str, str]) -> Callable[[str], Any]:
    """Return a client folder's module ``__getattr__``: lazy names, typed by mypy.

    Each name of ``where`` (name → submodule) is imported from its submodule when first
    used; the package imports them under ``TYPE_CHECKING`` for type checkers.
    """

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        import importlib

        return getattr(importlib.import_module(f"{package}.{module}"), name)

    return __getattr__


def stdin_is_piped() -> bool:
    """Return whether stdin is a pipe, a socket or a redirected regular file.

    A terminal, ``/dev/null`` (a character device) or a closed stdin do not count.
    """
    try:
        mode = os.fstat(0).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISREG(mode)


def _variable(config: ClientConfig) -> str:
    from streamprocessor.config.variables import env_prefix

    return f"{env_prefix(config.kind, config.name)}_CLIENT_TYPE"


def _chosen(config: ClientConfig, type_name: str, source: str) -> str:
    registry.get(type_name, config.kind, source).require()  # missing library: say which
    return type_name


def consumer_type(config: ClientConfig) -> str:
    """Return the consumer type ``new_consumer`` chooses for ``config``; raise as it does.

    ``CONSUMER_CLIENT_TYPE`` (or ``<NAME>_CONSUMER_CLIENT_TYPE``, fallback
    ``CLIENT_TYPE``; case-insensitive), else the config's type, else ``standardstream``
    when stdin is piped. Raises :class:`UnknownClientError` naming the variable the
    unknown type came from, and :class:`MissingDependencyError` naming what to install.
    """
    from streamprocessor.config.env import client_type_source

    type_name, source = client_type_source(config, "consumer")
    if type_name:
        return _chosen(config, type_name, source)
    if stdin_is_piped():
        return "standardstream"
    raise UnknownClientError(
        f"unable to determine the consumer client type: set {_variable(config)} to one of "
        f"{', '.join(client_types())}, or pipe input into stdin"
    )


def producer_type(config: ClientConfig) -> str:
    """Return the producer type ``new_producer`` chooses for ``config``; raise as it does.

    ``DRY_RUN`` (present, any value) selects ``standardstream`` (stdout); otherwise
    ``PRODUCER_CLIENT_TYPE`` (or ``<NAME>_PRODUCER_CLIENT_TYPE``, fallback
    ``CLIENT_TYPE``), else the config's type.
    """
    from streamprocessor.config.env import client_type_source, dry_run

    if dry_run():
        return "standardstream"
    type_name, source = client_type_source(config, "producer")
    if type_name:
        return _chosen(config, type_name, source)
    raise UnknownClientError(
        f"unable to determine the producer client type: set {_variable(config)} to one of "
        f"{', '.join(client_types())}, or set DRY_RUN=1 to write to stdout"
    )


def client_config(
    kind: ClientKind, options: Iterable[Any], type_name: str | None = None
) -> ClientConfig:
    """Build the ``kind`` config a client gets: ``options``, the environment, its type.

    ``type_name`` fixes the client type (a client module's own factory); None chooses it
    as :func:`new_consumer` / :func:`new_producer` do. Only the chosen type's variables
    are read.
    """
    from streamprocessor.config.build import build_config

    if type_name is not None:
        fixed = type_name
        registry.get(fixed, kind).require()

        def choose(config: Any) -> str:
            return fixed
    else:
        choose = consumer_type if kind == "consumer" else producer_type
    config: ClientConfig = build_config(kind, options, choose=choose)
    return config


def client_for(config: ClientConfig) -> Any:
    """Return the client of ``config``'s kind and type (``config.type`` is chosen)."""
    return registry.get(config.type, config.kind).client_class(config.kind)(config)


def new_client(
    kind: ClientKind, options: Iterable[Any], type_name: str | None = None
) -> Any:
    """Build a ``kind`` config from ``options`` and the environment; return its client.

    ``type_name`` fixes the client type (a client module's own factory); None chooses it
    as :func:`new_consumer` / :func:`new_producer` do.
    """
    return client_for(client_config(kind, options, type_name))


def new_consumer(*options: ConsumerOption | None) -> BatchConsumer:
    """Return the consumer the environment asks for.

    ``CONSUMER_CLIENT_TYPE`` (or ``<NAME>_CONSUMER_CLIENT_TYPE``, fallback ``CLIENT_TYPE``;
    case-insensitive) wins; an unknown value is an error even when stdin is piped. Without
    it, a piped or redirected stdin selects ``standardstream``; otherwise this raises
    :class:`UnknownClientError` saying how to choose.
    """
    consumer: BatchConsumer = new_client("consumer", options)
    return consumer


def new_producer(*options: ProducerOption | None) -> Producer:
    """Return the producer the environment asks for.

    ``DRY_RUN`` (present, any value) selects ``standardstream`` (stdout); otherwise
    ``PRODUCER_CLIENT_TYPE`` (or ``<NAME>_PRODUCER_CLIENT_TYPE``, fallback ``CLIENT_TYPE``).
    Without either this raises :class:`UnknownClientError` saying how to choose.
    """
    producer: Producer = new_client("producer", options)
    return producer


def new_async_client(
    kind: ClientKind, options: Iterable[Any], type_name: str | None = None
) -> Any:
    """Return the async face of the ``kind`` client :func:`new_client` would make.

    The config is built (and the type chosen) now; the client itself is made on the
    async client's worker thread when first used (``async with``), since connecting may
    block.
    """
    from streamprocessor.clients.front.aio import AsyncConsumerFront, AsyncProducerFront

    config = client_config(kind, options, type_name)
    face = AsyncConsumerFront if kind == "consumer" else AsyncProducerFront
    return face(config, lambda: client_for(config))  # type: ignore[arg-type]


def new_async_consumer(*options: ConsumerOption | None) -> AsyncConsumer:
    """Return the async consumer the environment asks for (chosen as ``new_consumer``).

    ``async with streamprocessor.new_async_consumer() as consumer: async for msg in
    consumer: ...`` — see :class:`~streamprocessor.stream.AsyncConsumer`.
    """
    consumer: AsyncConsumer = new_async_client("consumer", options)
    return consumer


def new_async_producer(*options: ProducerOption | None) -> AsyncProducer:
    """Return the async producer the environment asks for (chosen as ``new_producer``).

    ``async with streamprocessor.new_async_producer() as producer: await
    producer.send(msg)`` — see :class:`~streamprocessor.stream.AsyncProducer`.
    """
    producer: AsyncProducer = new_async_client("producer", options)
    return producer


def check_config(kind: ClientKind, type_name: str, config: ClientConfig) -> None:
    """Refuse ``config`` as a ``type_name`` client would at start, without connecting."""
    from streamprocessor.clients.spec import load

    spec = registry.get(type_name, kind)
    if spec.check:
        load(spec.check)(kind, config)
