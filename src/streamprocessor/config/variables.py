"""THE table of environment variables: one row per variable, driving everything else.

Parsing (:mod:`.parsing`), loading (:mod:`.env`), error messages, the command-line flags
of the runner and the generated ``--help`` all read these rows. The table is composed:
the rows every client reads (:data:`GLOBAL_VARIABLES`), the rows of each client type
(its spec's ``variables``, in its folder) and the runner's rows
(:data:`streamprocessor.runner.settings.SETTINGS`).

A variable's full name is its prefix and its suffix, and :func:`env_prefix` is the one
rule for the prefix: ``CONSUMER_KAFKA_GROUP_ID``, ``HELLO_WORLD_CONSUMER_KAFKA_GROUP_ID``
for a consumer named ``hello_world`` (the original's rule), ``STREAMPROCESSOR_RETRIES``
for the runner. Rows with a ``fallback`` are also read under that bare legacy name when
the prefixed one is absent.

This module imports no pydantic: ``--help`` and the client factory read it cheaply.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from streamprocessor.config.durations import DURATION_EXAMPLE

__all__ = [
    "GLOBAL_VARIABLES",
    "ClientKind",
    "Variable",
    "VariableKind",
    "env_prefix",
    "merge_dict",
]

ClientKind = Literal["consumer", "producer"]
#: Who reads a row: a consumer config, a producer config, both, or the runner.
Applies = Literal["consumer", "producer", "both", "runner"]
VariableKind = Literal[
    "str", "int", "count", "positive-int", "bool", "duration", "str-list", "int-list",
    "enum", "optional-int", "kv-dict", "secret", "name", "names", "custom",
]  # fmt: skip

#: The accepted form of a name (a producer's), as messages say it.
NAME_FORM = "a producer name of letters, digits, _ and -, such as dead_letter"

_EXPECTED: dict[str, str] = {
    "str": "UTF-8 text without a NUL",
    "secret": "UTF-8 text without a NUL",
    "int": "an integer such as 100, -1 or 0x1f",
    "count": "a whole number, 0 or more, such as 100 or 0x1f",
    "positive-int": "a whole number, 1 or more, such as 4 or 0x10",
    "optional-int": "an integer such as 100, -1 or 0x1f",
    "bool": "true or false (also 1/0, t/f, yes/no)",
    "duration": DURATION_EXAMPLE,
    "str-list": "a comma-separated list such as a,b,c",
    "int-list": "a comma-separated list of integers such as -195,5,7",
    "kv-dict": "comma-separated key=value pairs such as linger.ms=5,fetch.wait.max.ms=10",
    "name": NAME_FORM,
    "names": "a comma-separated list of names of letters, digits, _ and -, such as a,b_2",
}
_TYPE_TEXT: dict[str, str] = {
    "str": "string",
    "secret": "string (secret)",
    "int": "integer",
    "count": "integer (0 or more)",
    "positive-int": "integer (1 or more)",
    "optional-int": "integer",
    "bool": "true or false",
    "duration": "duration",
    "str-list": "comma-separated list",
    "int-list": "comma-separated list of integers",
    "kv-dict": "comma-separated key=value pairs",
    "name": "string",
    "names": "comma-separated list",
}


def merge_dict(current: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """A row's ``merge``: the variable's pairs over those set in code."""
    return {**current, **new}


@dataclass(frozen=True)
class Variable:
    """One environment variable: where it goes, how it is parsed, what it means."""

    suffix: str
    """The name after the prefix, e.g. ``KAFKA_GROUP_ID``."""
    field: str
    """The setting it sets, as a dotted path, e.g. ``kafka.group_id``."""
    applies: Applies
    """Which configs read it: ``consumer``, ``producer``, ``both``; or the ``runner``."""
    kind: VariableKind
    """How its text is parsed (see :mod:`streamprocessor.config.parsing`)."""
    default_text: str
    """The default as a user would type it (``5s``, ``beginning``, ``a,b``); ``""``: none."""
    description: str
    """One line for ``--help``."""
    secret: bool = False
    """Its value is never shown (errors say ``<hidden>``)."""
    fallback: str | None = None
    """The original's unprefixed legacy name, read when the prefixed one is absent."""
    choices: Mapping[str, object] | None = dataclasses.field(
        default=None, compare=False, hash=False
    )
    """For ``enum``: accepted lower-case names (aliases included) → value stored."""
    parser: Callable[[str], object] | None = dataclasses.field(
        default=None, compare=False, hash=False
    )
    """For ``custom``: text → value; raises ``ValueError(reason)``."""
    expected_text: str = ""
    """For ``custom``: the accepted form with an example, as errors say it."""
    type_label: str = ""
    """For ``custom``: the type as ``--help`` shows it."""
    merge: Callable[[Any, Any], Any] | None = dataclasses.field(
        default=None, compare=False, hash=False
    )
    """Combine the value already set (in code) with the variable's: ``merge(old, new)``."""
    flag: str | None = None
    """The runner's command-line flag (``--retries``); None: a variable only."""
    commands: tuple[str, ...] = ()
    """The runner commands that read it (``run``, ``pipe``)."""
    metavar: str = ""
    """The flag argument's name in ``--help`` (``N``, ``DURATION``)."""

    def env_name(self, prefix: str) -> str:
        """Return the full variable name under ``prefix`` (see :func:`env_prefix`).

        An empty prefix gives the bare suffix (``KAFKA_BROKERS``), as the original's test
        helpers used it.
        """
        return f"{prefix}_{self.suffix}" if prefix else self.suffix

    @property
    def env(self) -> str:
        """The full name of a runner row (``STREAMPROCESSOR_RETRIES``)."""
        return self.env_name(env_prefix("runner"))

    def applies_to(self, kind: ClientKind | Literal["runner"]) -> bool:
        """Tell whether a consumer or producer config (or the runner) reads this variable."""
        return self.applies == kind or (self.applies == "both" and kind != "runner")

    @property
    def values(self) -> list[str]:
        """For ``enum``: the canonical accepted names, in order (aliases left out)."""
        return list(dict.fromkeys(str(v) for v in (self.choices or {}).values()))

    @property
    def aliases(self) -> list[str]:
        """For ``enum``: the other accepted names (``earliest``, ``all``, …)."""
        canonical = {v.lower() for v in self.values}
        return [k for k in (self.choices or {}) if k not in canonical]

    @property
    def expected(self) -> str:
        """The accepted form with an example, as error messages say it."""
        if self.kind == "enum":
            extra = f"; also {', '.join(self.aliases)}" if self.aliases else ""
            return f"one of {', '.join(self.values)} (any case{extra})"
        return self.expected_text or _EXPECTED[self.kind]

    @property
    def type_text(self) -> str:
        """A short type for ``--help``: ``duration``, ``integer``, ``one of a, b``, …."""
        if self.kind == "enum":
            return "one of " + ", ".join(self.values)
        return self.type_label or _TYPE_TEXT[self.kind]


def env_prefix(kind: ClientKind | Literal["runner"], name: str = "") -> str:
    """Return the variable prefix: ``CONSUMER``, ``HELLO_WORLD_CONSUMER``, ``STREAMPROCESSOR``.

    A client's is its kind, after its name when it has one (``options.name``),
    upper-cased and nothing else changed (the original's rule; a name with a dash gives
    a prefix with a dash). The runner's is ``STREAMPROCESSOR``.
    """
    if kind == "runner":
        return "STREAMPROCESSOR"
    return (f"{name}_{kind}" if name else kind).upper()


_V = Variable

#: The rows every client reads, whatever its type.
GLOBAL_VARIABLES: tuple[Variable, ...] = (
    _V("CLIENT_TYPE", "type", "both", "str", "",
       "Client type (see above).", fallback="CLIENT_TYPE"),
    _V("SHUTDOWN_TIMEOUT", "shutdown_timeout", "both", "duration", "10s",
       "Time allowed to flush and commit after an interrupt before exiting with status 1."),
)  # fmt: skip
