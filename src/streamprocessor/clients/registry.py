"""The one registry of client types: a name → its :class:`~.spec.ClientSpec`, found lazily.

The built-in types are ``"package.module:SPEC"`` strings below, imported the first time
their name is asked for. A backend of another package registers itself in its own
packaging metadata, in the entry-point group ``streamprocessor.clients``::

    [project.entry-points."streamprocessor.clients"]
    spool = "spool_backend.spec:SPEC"

Entry points are read only for a name that is not built in (and for lists of every
type: ``--help``, an error naming the valid types), so choosing a built-in type never
scans the installed packages.
"""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING, Any

from streamprocessor.clients.spec import ClientSpec, load
from streamprocessor.stream.errors import UnknownClientError

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

    from streamprocessor.config.variables import ClientKind, Variable

__all__ = [
    "BUILT_IN",
    "ENTRY_POINT_GROUP",
    "find",
    "get",
    "loaded",
    "names",
    "type_variables",
    "unknown",
    "variables_for",
]

#: The built-in client types: name → ``"module:attribute"`` of its spec.
BUILT_IN: dict[str, str] = {
    "inmem": "streamprocessor.clients.inmem.spec:SPEC",
    "kafka": "streamprocessor.clients.kafka.spec:SPEC",
    "standardstream": "streamprocessor.clients.standardstream.spec:SPEC",
}

#: The entry-point group other packages add their client types to.
ENTRY_POINT_GROUP = "streamprocessor.clients"

_NAME = re.compile(r"[a-z][a-z0-9_]*")
_lock = threading.Lock()
_specs: dict[str, ClientSpec] = {}
_plugins: dict[str, EntryPoint] | None = None


def _entry_points() -> dict[str, EntryPoint]:
    global _plugins
    if _plugins is None:
        from importlib.metadata import entry_points

        found = {ep.name.strip().lower(): ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
        _plugins = {n: ep for n, ep in found.items() if n not in BUILT_IN}
    return _plugins


def _checked(name: str, spec: Any, origin: str) -> ClientSpec:
    if not isinstance(spec, ClientSpec):
        raise UnknownClientError(
            f"{origin} names {type(spec).__name__}, not a ClientSpec, for client type {name!r}"
        )
    if spec.name != name:
        raise UnknownClientError(
            f"{origin} gives the spec of client type {spec.name!r} under the name {name!r}; "
            "the entry point's name must be the spec's name"
        )
    return spec


def find(name: str) -> ClientSpec | None:
    """Return the spec of client type ``name`` (lower-case), or None if there is none.

    A built-in name imports its spec module; any other name looks in the entry points.
    A spec that cannot be imported raises :class:`UnknownClientError` saying why.
    """
    spec = _specs.get(name)
    if spec is not None:
        return spec
    target = BUILT_IN.get(name)
    origin = f"the built-in {target}"
    if target is None:
        if not _NAME.fullmatch(name):
            return None
        entry = _entry_points().get(name)
        if entry is None:
            return None
        target = entry.value
        dist = getattr(entry.dist, "name", None) or "a package"
        origin = f"the entry point {name} = {target} of {dist} (group {ENTRY_POINT_GROUP})"
    try:
        value = load(target)
    except ImportError as exc:
        raise UnknownClientError(f"client type {name!r}: importing {origin} failed: {exc}") from exc
    except AttributeError as exc:
        raise UnknownClientError(f"client type {name!r}: {origin}: {exc}") from exc
    with _lock:
        spec = _specs.setdefault(name, _checked(name, value, origin))
    return spec


def loaded() -> dict[str, ClientSpec]:
    """Return the specs imported so far (name → spec); imports nothing."""
    return dict(_specs)


def names() -> list[str]:
    """Return every client type's name, built-in and from entry points, sorted."""
    return sorted({*BUILT_IN, *_entry_points(), *_specs})


def unknown(kind: str, value: str, source: str) -> UnknownClientError:
    """Return the error for an unknown client type ``value`` read from ``source``."""
    import difflib

    valid = names()
    hint = difflib.get_close_matches(value, valid, n=1)
    maybe = f" (did you mean {hint[0]!r}?)" if hint else ""
    return UnknownClientError(
        f"unknown {kind} client type {value!r} in {source}{maybe}: valid types are "
        f"{', '.join(valid)}; another package can add one (entry-point group "
        f"{ENTRY_POINT_GROUP})"
    )


def get(name: str, kind: str = "client", source: str = "the config's type") -> ClientSpec:
    """Return the spec of ``name``, or raise :func:`unknown`'s error naming ``source``."""
    spec = find(name)
    if spec is None:
        raise unknown(kind, name, source)
    return spec


def type_variables(kind: ClientKind, types: list[str] | None = None) -> list[Variable]:
    """Return the rows of each client type in ``types`` that a ``kind`` config reads.

    ``types`` None means every built-in type (and those loaded so far), in name order.
    """
    if types is None:
        types = sorted({*BUILT_IN, *_specs})
    rows: list[Variable] = []
    for type_name in types:
        spec = find(type_name)
        if spec is not None:
            rows.extend(v for v in spec.variables if v.applies_to(kind))
    return rows


def variables_for(kind: ClientKind, types: list[str] | None = None) -> list[Variable]:
    """Return the rows a ``kind`` config reads: the global ones, then ``types``' rows."""
    from streamprocessor.config.variables import GLOBAL_VARIABLES

    globals_ = [v for v in GLOBAL_VARIABLES if v.applies_to(kind)]
    return globals_ + type_variables(kind, types)
