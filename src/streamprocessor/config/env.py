"""Reading the environment: the only module of streamprocessor that looks at ``os.environ``.

Every function takes an optional ``environ`` mapping (tests pass their own); ``None``
means the process environment. Only variables that are present are applied; present but
empty counts as set (an empty string, an empty list), as in the original.

The config models, and with them pydantic, are imported when first needed: the client
factory asks :func:`defaults_apply`, :func:`env_client_type` and :func:`dry_run` before
it builds a config, and a standard-stream client with default settings never builds one.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Literal, TypeVar

if TYPE_CHECKING:
    from streamprocessor.config.kafka import KafkaDebug
    from streamprocessor.config.models import ConsumerConfig, ProducerConfig
    from streamprocessor.config.variables import ClientKind, Variable

__all__ = [
    "DRY_RUN",
    "LEGACY_NAMES",
    "client_type_from_env",
    "client_type_source",
    "defaults_apply",
    "dry_run",
    "env_client_type",
    "kind_of",
    "load_env",
    "lookup",
]

#: Present (with any value, even empty): producers write to stdout.
DRY_RUN = "DRY_RUN"

#: The variables also read under a bare legacy name (``CLIENT_TYPE`` aside); the table's
#: ``fallback`` column, checked by a test.
LEGACY_NAMES = frozenset({"CA_PATH", "CERT_PATH", "CLIENT_ID", "CRL_PATH", "MAX_QUEUE_SIZE_KBYTES"})

_Config = TypeVar("_Config", "ConsumerConfig", "ProducerConfig")


def _env(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def kind_of(config: ConsumerConfig | ProducerConfig) -> ClientKind:
    """Return ``"consumer"`` or ``"producer"`` for a config object."""
    from streamprocessor.config.models import ConsumerConfig

    return "consumer" if isinstance(config, ConsumerConfig) else "producer"


def lookup(
    var: Variable, prefix: str, environ: Mapping[str, str] | None = None
) -> tuple[str, str] | None:
    """Return ``(name, text)`` of the variable as set, or None when it is absent.

    The prefixed name wins; the legacy fallback is read only when it is absent.
    """
    env = _env(environ)
    for name in (var.env_name(prefix), var.fallback):
        if name is not None and name in env:
            return name, env[name]
    return None


def _apply(config: ConsumerConfig | ProducerConfig, var: Variable, name: str, raw: str) -> None:
    from pydantic import ValidationError

    from streamprocessor.config.models import pydantic_reason
    from streamprocessor.config.parsing import invalid_value, parse_value

    value = parse_value(var, raw, name)
    *path, attr = var.field.split(".")
    owner: object = config
    for part in path:
        owner = getattr(owner, part)
    if var.kind == "debug":  # adds flags, as the original's setter did
        current: KafkaDebug = getattr(owner, attr)
        value = current.flags() | value  # type: ignore[operator]
    elif var.kind == "kv-dict":  # merged over the properties set in code
        value = {**getattr(owner, attr), **value}  # type: ignore[dict-item]
    try:
        setattr(owner, attr, value)
    except ValidationError as exc:
        reasons = [pydantic_reason(e) for e in exc.errors(include_input=False)]
        raise invalid_value(var, name, raw, "; ".join(reasons)) from None


def load_env(
    config: _Config,
    environ: Mapping[str, str] | None = None,
    *,
    prefix: str | None = None,
) -> _Config:
    """Overlay the variables present in the environment onto ``config`` (in place).

    The prefix is ``CONSUMER``/``PRODUCER`` or ``<NAME>_CONSUMER``/``<NAME>_PRODUCER``
    from ``config.name``, unless given. Ignores ``allow_environment_based_configuration``
    (the builders check it). Returns ``config``; raises :class:`ConfigError` at the first
    invalid value, naming the variable.
    """
    from streamprocessor.config.variables import env_prefix, variables_for

    env = _env(environ)
    kind = kind_of(config)
    pre = env_prefix(kind, config.name) if prefix is None else prefix
    for var in variables_for(kind):
        found = lookup(var, pre, env)
        if found is not None:
            _apply(config, var, *found)
    return config


def client_type_from_env(
    config: ConsumerConfig | ProducerConfig,
    kind: ClientKind | None = None,
    environ: Mapping[str, str] | None = None,
) -> str:
    """Return the client type: ``<PREFIX>_CLIENT_TYPE``, ``CLIENT_TYPE`` or ``config.type``.

    The prefixed variable wins over the bare legacy one, which wins over the config.
    Read even when environment configuration is disabled, as the original's factory
    did; lower-cased, surrounding spaces removed.
    """
    return client_type_source(config, kind, environ)[0]


def client_type_source(
    config: ConsumerConfig | ProducerConfig,
    kind: ClientKind | None = None,
    environ: Mapping[str, str] | None = None,
) -> tuple[str, str]:
    """Return :func:`client_type_from_env`'s type and where it came from, for errors.

    The source is the variable read (``CLIENT_TYPE`` when only the bare one is set) or
    ``options.name/config.type`` when no variable is. Raises :class:`ConfigError` for
    a value that is not UTF-8 text.
    """
    from streamprocessor.config.parsing import parse_value
    from streamprocessor.config.variables import env_prefix, variables_for

    kind = kind or kind_of(config)
    var = next(v for v in variables_for(kind) if v.field == "type")
    found = lookup(var, env_prefix(kind, config.name), environ)
    if found is None:
        return config.type.strip().lower(), "the config's type (set in code)"
    name, raw = found
    return str(parse_value(var, raw, name)).strip().lower(), name


def dry_run(environ: Mapping[str, str] | None = None) -> bool:
    """Tell whether ``DRY_RUN`` is present (any value, even empty)."""
    return DRY_RUN in _env(environ)


def defaults_apply(
    kind: Literal["consumer", "producer"],
    options: Iterable[object],
    environ: Mapping[str, str] | None = None,
) -> bool:
    """Tell whether ``options`` and the environment leave every setting at its default.

    True when every option is ``None`` and no variable of the default ``kind`` client is
    set, its client type excepted (the factory reads that one itself). Conservative:
    any ``CONSUMER_…`` variable counts, known or not. Imports no pydantic.
    """
    if any(option is not None for option in options):
        return False
    prefix = "CONSUMER_" if kind == "consumer" else "PRODUCER_"
    client_type = f"{prefix}CLIENT_TYPE"
    for key in _env(environ):
        if (key.startswith(prefix) and key != client_type) or key in LEGACY_NAMES:
            return False
    return True


def env_client_type(
    kind: Literal["consumer", "producer"], environ: Mapping[str, str] | None = None
) -> str | None:
    """Return ``<KIND>_CLIENT_TYPE`` (else ``CLIENT_TYPE``) as set, or None when neither is.

    For the default (unnamed) client; the text as it is (:func:`client_type_from_env`
    normalises it).
    """
    env = _env(environ)
    for name in (f"{kind.upper()}_CLIENT_TYPE", "CLIENT_TYPE"):
        if name in env:
            return env[name]
    return None
