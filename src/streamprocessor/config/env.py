"""Reading the environment: the only module of streamprocessor that looks at ``os.environ``.

Every function takes an optional ``environ`` mapping (tests pass their own); ``None``
means the process environment. Only variables that are present are applied; present but
empty counts as set (an empty string, an empty list), as in the original.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, TypeVar

from streamprocessor.config.variables import GLOBAL_VARIABLES, env_prefix

if TYPE_CHECKING:
    from streamprocessor.config.models import ClientConfig
    from streamprocessor.config.variables import ClientKind, Variable

__all__ = [
    "DRY_RUN",
    "LEGACY_NAMES",
    "apply_variables",
    "client_type_from_env",
    "client_type_source",
    "dry_run",
    "kind_of",
    "known_type",
    "load_env",
    "lookup",
]

#: Present (with any value, even empty): producers write to stdout.
DRY_RUN = "DRY_RUN"

#: The variables also read under a bare legacy name (``CLIENT_TYPE`` aside); the table's
#: ``fallback`` column, checked by a test.
LEGACY_NAMES = frozenset({"CA_PATH", "CERT_PATH", "CLIENT_ID", "CRL_PATH", "MAX_QUEUE_SIZE_KBYTES"})

_Config = TypeVar("_Config", bound="ClientConfig")
_TYPE_ROW = next(v for v in GLOBAL_VARIABLES if v.field == "type")


def _env(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def kind_of(config: ClientConfig) -> ClientKind:
    """Return ``"consumer"`` or ``"producer"`` for a config object."""
    return config.kind


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


def _apply(config: ClientConfig, var: Variable, name: str, raw: str) -> None:
    from pydantic import ValidationError

    from streamprocessor.config.models import pydantic_reason
    from streamprocessor.config.parsing import invalid_value, parse_value

    value = parse_value(var, raw, name)
    *path, attr = var.field.split(".")
    owner: object = config
    for part in path:
        owner = getattr(owner, part)
    if var.merge is not None:  # adds to what code set (debug flags, librdkafka properties)
        value = var.merge(getattr(owner, attr), value)
    try:
        setattr(owner, attr, value)
    except ValidationError as exc:
        reasons = [pydantic_reason(e) for e in exc.errors(include_input=False)]
        raise invalid_value(var, name, raw, "; ".join(reasons)) from None


def apply_variables(
    config: _Config,
    rows: Iterable[Variable],
    environ: Mapping[str, str] | None = None,
    *,
    prefix: str | None = None,
) -> _Config:
    """Overlay the ``rows`` present in the environment onto ``config`` (in place)."""
    env = _env(environ)
    pre = env_prefix(config.kind, config.name) if prefix is None else prefix
    for var in rows:
        found = lookup(var, pre, env)
        if found is not None:
            _apply(config, var, *found)
    return config


def load_env(
    config: _Config,
    environ: Mapping[str, str] | None = None,
    *,
    prefix: str | None = None,
    types: list[str] | None = None,
) -> _Config:
    """Overlay the variables present in the environment onto ``config`` (in place).

    The prefix is ``CONSUMER``/``PRODUCER`` or ``<NAME>_CONSUMER``/``<NAME>_PRODUCER``
    from ``config.name``, unless given. The global rows are read first; then the rows of
    the client ``types`` — by default the config's type (``*_CLIENT_TYPE`` included)
    when it is a known one, else every built-in type. Ignores
    ``allow_environment_based_configuration`` (the builders check it). Returns
    ``config``; raises :class:`ConfigError` at the first invalid value, naming it.
    """
    import streamprocessor.clients.registry as registry

    kind = config.kind
    apply_variables(config, (v for v in GLOBAL_VARIABLES if v.applies_to(kind)), environ,
                    prefix=prefix)  # fmt: skip
    rows = registry.type_variables(kind, types if types is not None else known_type(config))
    return apply_variables(config, rows, environ, prefix=prefix)


def known_type(config: ClientConfig) -> list[str] | None:
    """Return ``[config.type]`` when it is a known client type, else None (every type)."""
    import streamprocessor.clients.registry as registry

    chosen = config.type.strip().lower()
    return [chosen] if chosen and registry.find(chosen) is not None else None


def client_type_from_env(
    config: ClientConfig,
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
    config: ClientConfig,
    kind: ClientKind | None = None,
    environ: Mapping[str, str] | None = None,
) -> tuple[str, str]:
    """Return :func:`client_type_from_env`'s type and where it came from, for errors.

    The source is the variable read (``CLIENT_TYPE`` when only the bare one is set) or
    ``options.name/config.type`` when no variable is. Raises :class:`ConfigError` for
    a value that is not UTF-8 text.
    """
    from streamprocessor.config.parsing import parse_value

    kind = kind or config.kind
    found = lookup(_TYPE_ROW, env_prefix(kind, config.name), environ)
    if found is None:
        return config.type.strip().lower(), "the config's type (set in code)"
    name, raw = found
    return str(parse_value(_TYPE_ROW, raw, name)).strip().lower(), name


def dry_run(environ: Mapping[str, str] | None = None) -> bool:
    """Tell whether ``DRY_RUN`` is present (any value, even empty)."""
    return DRY_RUN in _env(environ)
