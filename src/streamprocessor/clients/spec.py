"""``ClientSpec``: everything streamprocessor needs to know about one client type.

Each client folder has a ``spec`` module holding one ``SPEC``; the registry
(:mod:`streamprocessor.clients.registry`) finds it by a ``"package.module:SPEC"`` string,
or through the entry-point group ``streamprocessor.clients`` for a backend of another
package. Everything heavy (the ports and the library behind them, the option functions,
the conformance harness) is named by ``"module:attribute"`` strings and imported only
when used; the config sections and the variable rows are plain values of the spec
module, imported with it.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from streamprocessor.stream.errors import MissingDependencyError, UnknownClientError

if TYPE_CHECKING:
    from streamprocessor.config.section import Section
    from streamprocessor.config.variables import Variable

__all__ = ["ClientSpec", "load"]

Side = Literal["consumer", "producer"]


def load(target: str) -> Any:
    """Import ``"package.module:attribute"`` and return the attribute."""
    module, _, attribute = target.partition(":")
    value: Any = importlib.import_module(module)
    for part in attribute.split(".") if attribute else ():
        value = getattr(value, part)
    return value


@dataclass(frozen=True)
class ClientSpec:
    """One client type: its name, ports, config sections, variables, options and extra.

    ``name`` is the ``*_CLIENT_TYPE`` value, the name of the config sections
    (``config.<name>``), the middle of its variables (``CONSUMER_<NAME>_…``) and the
    prefix of its option functions (``options.<name>_…``).
    """

    name: str
    """The client type's name: lower-case letters, digits and ``_``."""
    summary: str
    """One line for ``--help``: what the client reads and writes."""
    consumer: str = ""
    """``"module:Class"`` of the consumer; called with a ``ConsumerConfig`` ("" : none)."""
    producer: str = ""
    """``"module:Class"`` of the producer; called with a ``ProducerConfig`` ("" : none)."""
    consumer_section: type[Section] | None = None
    """The model of ``ConsumerConfig.<name>``, the consumer's own settings."""
    producer_section: type[Section] | None = None
    """The model of ``ProducerConfig.<name>``."""
    variables: tuple[Variable, ...] = ()
    """Its rows of the variable table (fields ``<name>.…``), in ``--help`` order."""
    options: str = ""
    """The module of its option functions (``options.<name>_…`` finds them there)."""
    requires: tuple[str, ...] = ()
    """Top-level modules it imports (its backend library): checked when it is chosen."""
    extra: str = ""
    """The install extra of streamprocessor that brings ``requires`` (``redis``)."""
    install: str = ""
    """How to install what ``requires`` names, when not an extra of ours."""
    harness: str = ""
    """``"module:attribute"`` of its conformance harnesses: a mapping of variant names to
    functions that take the test's ``pytest.FixtureRequest`` and return a
    :class:`~streamprocessor.testing.conformance.Harness` (see ``tests`` and the README)."""
    test_marks: tuple[str, ...] = ()
    """pytest marks of its conformance tests (``kafka``: needs the broker fixture)."""
    check: str = ""
    """``"module:function"`` refusing a bad config as the client would, without I/O;
    called as ``check(kind, config)``."""

    def section(self, kind: Side) -> type[Section] | None:
        """Return the config section model of the ``consumer`` or ``producer`` side."""
        return self.consumer_section if kind == "consumer" else self.producer_section

    def missing(self) -> list[str]:
        """Return the modules of ``requires`` that cannot be imported here."""
        return [m for m in self.requires if importlib.util.find_spec(m) is None]

    def require(self) -> None:
        """Raise :class:`MissingDependencyError` naming what to install, if anything is missing."""
        missing = self.missing()
        if not missing:
            return
        how = self.install or (
            f"pip install 'streamprocessor[{self.extra}]'" if self.extra else "install it"
        )
        what = ", ".join(repr(m) for m in missing)
        raise MissingDependencyError(
            f"the {self.name} client type needs the Python package {what}, which is not "
            f"installed: {how}"
        )

    def client_class(self, kind: Side) -> Callable[[Any], Any]:
        """Return the consumer or producer class (imports the client and its library)."""
        target = self.consumer if kind == "consumer" else self.producer
        if not target:
            raise UnknownClientError(f"the {self.name} client type has no {kind}")
        self.require()
        cls: Callable[[Any], Any] = load(target)
        return cls
