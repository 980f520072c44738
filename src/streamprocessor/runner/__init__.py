"""The runner: consume → handle → produce → ack, done right, for ``streamprocessor run``.

A handler takes a :class:`~streamprocessor.Message` and returns ``None`` (nothing to
produce), a ``Message`` (to the default producer), ``to("name", msg)`` (to the extra
producer ``name``) or an iterable of those. The runner sends every output, then
acknowledges the input; the ack barrier commits it only once the outputs are delivered.
A failing handler is retried with backoff, then the error policy applies: ``stop`` (the
default; the message is not acknowledged and :class:`HandlerFailedError` is raised),
``skip`` (logged and acknowledged) or ``dead-letter`` (sent to the dead-letter producer
with the error in its tags, then acknowledged).

Modules: ``handler`` (loading and routing), ``settings`` (the settings table), ``engine``
(the loop and its workers), ``app`` (building the clients), ``stats``, ``logs``.
"""

from streamprocessor.runner._engine import Runner
from streamprocessor.runner.app import effective_config, open_clients, producer_names, run
from streamprocessor.runner.handler import (
    DEAD_LETTER_TAGS,
    DEFAULT_PRODUCER,
    Handler,
    HandlerError,
    HandlerFailedError,
    HandlerOutputError,
    Routed,
    load_handler,
    to,
)
from streamprocessor.runner.settings import SETTINGS, RunnerSettings, Setting, settings_for

__all__ = [
    "DEAD_LETTER_TAGS",
    "DEFAULT_PRODUCER",
    "SETTINGS",
    "Handler",
    "HandlerError",
    "HandlerFailedError",
    "HandlerOutputError",
    "Routed",
    "Runner",
    "RunnerSettings",
    "Setting",
    "effective_config",
    "load_handler",
    "open_clients",
    "producer_names",
    "run",
    "settings_for",
    "to",
]
