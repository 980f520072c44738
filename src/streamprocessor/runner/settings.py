"""The runner's settings: its rows of the variable table drive its flags, variables and --help.

The rows are :class:`~streamprocessor.config.variables.Variable` rows that apply to the
``runner`` (prefix ``STREAMPROCESSOR``), parsed by the same parsers as every client
variable. Every setting has a flag (``--concurrency``) and a variable
(``STREAMPROCESSOR_CONCURRENCY``); a flag wins over the variable, the variable over the
default. Two settings are variables
only: ``STREAMPROCESSOR_LOG_LEVEL`` and ``STREAMPROCESSOR_LOG_FORMAT``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from streamprocessor.config.durations import format_duration
from streamprocessor.config.parsing import invalid_value, name_problem, parse_value
from streamprocessor.config.variables import Variable, VariableKind, env_prefix
from streamprocessor.stream import ConfigError

__all__ = [
    "ENV_PREFIX",
    "LOG_FORMATS",
    "LOG_LEVELS",
    "POLICIES",
    "SETTINGS",
    "RunnerSettings",
    "Setting",
    "parse_setting",
    "settings_for",
]

#: the runner's variables start with this
ENV_PREFIX = env_prefix("runner") + "_"
POLICIES = ("stop", "skip", "dead-letter")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
LOG_FORMATS = ("text", "json")
Policy = Literal["stop", "skip", "dead-letter"]
@dataclass(frozen=True)
class RunnerSettings:
    """How the runner treats messages, errors, time and statistics.

    The defaults are those of ``streamprocessor run`` without flags or variables.
    """

    concurrency: int = 1
    """Handler workers; order is kept per key (Kafka: per partition)."""
    on_error: Policy = "stop"
    """What happens to a message whose handler still fails after the retries."""
    retries: int = 0
    """How often a failing handler call is repeated before ``on_error`` applies."""
    retry_backoff: timedelta = timedelta(milliseconds=100)
    """The wait before the first retry; it doubles for each further retry."""
    retry_backoff_max: timedelta = timedelta(seconds=10)
    """The longest wait between two retries."""
    dead_letter_producer: str = "dead_letter"
    """The producer dead letters go to (``producer``: the default producer)."""
    dead_letter_topic: str = ""
    """The ``producer_topic`` set on dead letters ("": the producer's configured topic)."""
    producers: tuple[str, ...] = ()
    """The extra named producers handlers route to with ``to(name, msg)``."""
    handler_timeout: timedelta | None = None
    """A handler call running longer ends the process with status 1 (None: automatic)."""
    shutdown_timeout: timedelta | None = None
    """Time to finish, flush and commit after a signal (None: the clients' setting)."""
    stats: bool = False
    """Print live statistics on stderr."""
    stats_interval: timedelta = timedelta(seconds=1)
    """How often the statistics are printed."""
    queue_size: int = 16
    """Messages handed to a worker at a time when concurrency > 1. Once twice this many
    wait for a worker, the consuming thread waits for room before fetching more, or
    pauses the worker's Kafka partitions when it has a second of work waiting (see
    docs/CLI.md, Concurrency)."""
    freeze_gc: bool = True
    """Move what is alive when the run starts out of the garbage collector's way
    (``gc.freeze()``, undone when the run ends): its collections then walk only what the
    processing itself keeps alive, not every module, config and client object."""
    gc_threshold: int | None = 20_000
    """The garbage collector's first-generation threshold while the run lasts (restored
    when it ends; None leaves it as it is). Every message allocates a few tracked objects
    (the consumed and the produced message, the send's delivery callback): with Python's
    default of 700 a young collection ran every ~300 messages and cost ~6 % of a Kafka
    pipeline."""

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ConfigError(f"concurrency must be at least 1, not {self.concurrency}")
        if self.retries < 0:
            raise ConfigError(f"retries must not be negative, not {self.retries}")
        for name in (*self.producers, self.dead_letter_producer):
            if name_problem(name):
                raise ConfigError(f"invalid producer name: {name_problem(name)}")
        if self.on_error not in POLICIES:
            raise ConfigError(
                f"unknown error policy {self.on_error!r}: expected one of {', '.join(POLICIES)}"
            )
        if self.gc_threshold is not None and self.gc_threshold < 1:
            raise ConfigError(f"gc_threshold must be at least 1, not {self.gc_threshold}")
        if self.queue_size < 1:
            raise ConfigError(f"queue_size must be at least 1, not {self.queue_size}")
        if self.stats_interval <= timedelta(0):
            raise ConfigError("stats_interval must be positive")

    def backoff(self, retry: int) -> float:
        """Return the seconds to wait before retry number ``retry`` (1, 2, …)."""
        first = self.retry_backoff.total_seconds()
        return float(min(first * 2 ** (retry - 1), self.retry_backoff_max.total_seconds()))

    def replace(self, **changes: Any) -> RunnerSettings:
        """Return a copy with ``changes`` applied (validated again)."""
        return dataclasses.replace(self, **changes)


#: A runner setting is a row of the one variable table, read by the runner.
Setting = Variable


def parse_setting(row: Variable, text: str, source: str) -> Any:
    """Parse ``text`` of runner row ``row`` given in ``source`` (its flag or its variable).

    The parsers of every variable (:mod:`streamprocessor.config.parsing`): ``010`` is
    refused, Go booleans, a set-but-empty number is an error, a producer name must be one.
    ``auto`` is the automatic value (None) of a row whose default is ``auto``.
    """
    if row.default_text == "auto" and text.strip().lower() == "auto":
        return None
    value = parse_value(row, text, source)
    return tuple(value) if isinstance(value, list) else value


def _choices(values: tuple[str, ...]) -> dict[str, object]:
    return {v: v for v in values}


def _S(field: str, kind: VariableKind, default: str, description: str,
       commands: tuple[str, ...] = ("run",), flag: str | None = None,
       choices: tuple[str, ...] = (), metavar: str = "") -> Variable:  # fmt: skip
    return Variable(field.upper(), field, "runner", kind, default, description,
                    choices=_choices(choices) if choices else None, flag=flag,
                    commands=commands, metavar=metavar)  # fmt: skip


_BOTH = ("run", "pipe")

#: The runner's rows of the variable table (``STREAMPROCESSOR_*``), in --help order.
SETTINGS: tuple[Variable, ...] = (
    _S("producers", "names", "", "Extra producers the handler routes to with to(NAME, msg); "
       "each is configured by NAME_PRODUCER_* variables.", flag="--producer", metavar="NAME"),
    _S("concurrency", "positive-int", "1", "Handler workers; order is kept per key (Kafka: per "
       "partition).", flag="--concurrency", metavar="N"),
    _S("on_error", "enum", "stop", "When the handler still fails after the retries: stop "
       "(exit 1), skip the message, or send it to the dead-letter producer.",
       flag="--on-error", choices=POLICIES, metavar="POLICY"),
    _S("retries", "count", "0", "Times a failing handler call is retried before --on-error "
       "applies.", flag="--retries", metavar="N"),
    _S("retry_backoff", "duration", "100ms", "Wait before the first retry; doubles for each "
       "further retry.", flag="--retry-backoff", metavar="DURATION"),
    _S("retry_backoff_max", "duration", "10s", "Longest wait between two retries.",
       flag="--retry-backoff-max", metavar="DURATION"),
    _S("dead_letter_producer", "name", "dead_letter", "Producer of dead letters, configured "
       "by NAME_PRODUCER_* (producer: the default producer).", flag="--dead-letter-producer",
       metavar="NAME"),
    _S("dead_letter_topic", "str", "", "Topic of dead letters (empty: the dead-letter "
       "producer's own topic).", flag="--dead-letter-topic", metavar="TOPIC"),
    _S("handler_timeout", "duration", "auto", "A handler call running longer ends the "
       "process with status 1 (auto: Kafka's max poll interval, else none; 0s: none).",
       flag="--handler-timeout", metavar="DURATION"),
    _S("shutdown_timeout", "duration", "10s", "Time to finish, flush and commit after "
       "SIGTERM or Ctrl-C before exiting with status 1 (sets every client's).",
       commands=_BOTH, flag="--shutdown-timeout", metavar="DURATION"),
    _S("stats", "bool", "false", "Print messages in/out per second, backlog and errors on "
       "stderr.", commands=_BOTH, flag="--stats"),
    _S("stats_interval", "duration", "1s", "How often --stats prints.", commands=_BOTH,
       flag="--stats-interval", metavar="DURATION"),
    _S("log_level", "enum", "info", "Log level of the messages on stderr.", commands=_BOTH,
       choices=LOG_LEVELS),
    _S("log_format", "enum", "text", "Log format: text lines or one JSON object per line.",
       commands=_BOTH, choices=LOG_FORMATS),
)  # fmt: skip


def settings_for(command: str) -> list[Setting]:
    """Return the settings ``command`` (``run`` or ``pipe``) takes, in table order."""
    return [s for s in SETTINGS if command in s.commands]


def from_sources(
    command: str,
    flags: Mapping[str, Any],
    environ: Mapping[str, str],
) -> tuple[RunnerSettings, dict[str, str]]:
    """Build the settings of ``command`` from parsed ``flags`` (text), then ``environ``.

    ``flags`` maps a field to the text given on the command line (a list for
    ``--producer``, True for ``--stats``). Returns the settings and the logging choices
    (``log_level``, ``log_format``). Raises :class:`ConfigError` naming the flag or
    variable at fault.
    """
    values: dict[str, Any] = {}
    logging_choices = {"log_level": "info", "log_format": "text"}
    for s in settings_for(command):
        given = flags.get(s.field)
        if given is not None and given != [] and given is not False:
            if s.kind == "bool":
                value: Any = True
            elif s.kind == "names":
                many = isinstance(given, Sequence) and not isinstance(given, str)
                value = ()
                for one in given if many else [given]:  # each --producer is one name
                    if not one.strip():
                        raise invalid_value(s, str(s.flag), one, "no name given")
                    value += parse_setting(s, one, str(s.flag))
            else:
                value = parse_setting(s, str(given), s.flag or s.env)
        elif s.env in environ:
            value = parse_setting(s, environ[s.env], s.env)
        else:
            continue
        if s.field in logging_choices:
            logging_choices[s.field] = value
        else:
            values[s.field] = value
    return RunnerSettings(**values), logging_choices


def render_value(value: object) -> object:
    """Return a setting's value as a user types it (durations as Go durations)."""
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, tuple):
        return list(value)
    return value
