"""Running a handler over the clients the environment asks for.

:func:`run` is what ``streamprocessor run`` does, for programs that prefer to start the
runner themselves::

    from streamprocessor.runner import RunnerSettings, run

    def handle(msg):
        return Message(value=msg.value.upper())

    run(handle, RunnerSettings(concurrency=4))
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

from streamprocessor import options
from streamprocessor.clients import check_config, client_config, client_for
from streamprocessor.config import dry_run, redacted_dict
from streamprocessor.options import Option
from streamprocessor.runner._engine import Runner
from streamprocessor.runner.handler import DEFAULT_PRODUCER, Handler, check_handler
from streamprocessor.runner.settings import SETTINGS, RunnerSettings, render_value
from streamprocessor.stream import Consumer, Producer

if TYPE_CHECKING:
    from streamprocessor.config.models import ClientConfig
    from streamprocessor.runner._deadletters import DeadLetterWriter

__all__ = ["dead_letter_writer", "effective_config", "open_clients", "producer_names", "run"]


def producer_names(settings: RunnerSettings) -> list[str]:
    """Return the names of the extra producers ``settings`` need, in order, without repeats.

    These are the ``--producer`` names and, under the dead-letter policy, the dead-letter
    producer. ``producer`` (the default producer) is never an extra one.
    """
    names = list(settings.producers)
    if settings.on_error == "dead-letter":
        names.append(settings.dead_letter_producer)
    return [n for n in dict.fromkeys(names) if n != DEFAULT_PRODUCER]


def _client_options(settings: RunnerSettings, extra: tuple[Option, ...]) -> tuple[Option, ...]:
    if settings.shutdown_timeout is None:
        return extra
    return (options.shutdown_timeout(settings.shutdown_timeout), *extra)


def _configs(
    command: str, settings: RunnerSettings, client_options: tuple[Option, ...]
) -> dict[str, ClientConfig]:
    """Build and check every client's config, as the factory would: role → config.

    ``consumer`` and ``producer`` (the default producer), then each extra producer by
    name. What a run refuses with :class:`ConfigError` is refused here, before any client
    opens: none connects in vain.
    """
    opts = _client_options(settings, client_options)
    configs = {"consumer": _checked(client_config("consumer", opts))}
    names = [DEFAULT_PRODUCER] + (producer_names(settings) if command == "run" else [])
    for name in names:
        named = (options.name(name),) if name != DEFAULT_PRODUCER else ()
        configs[name] = _checked(client_config("producer", (*opts, *named)))
    return configs


def _checked(config: ClientConfig) -> ClientConfig:
    check_config(config.kind, config.type, config)
    return config


def open_clients(
    stack: ExitStack, settings: RunnerSettings, *client_options: Option
) -> tuple[Consumer, dict[str, Producer]]:
    """Create the consumer, the default producer and the extra producers; close on exit.

    Extra producer ``NAME`` is ``new_producer(options.name(NAME))``: it reads the
    ``NAME_PRODUCER_*`` variables. Every client's config is checked before the first
    opens (:class:`ConfigError`). Under ``DRY_RUN`` dead letters go to stderr (see
    :func:`dead_letter_writer`), not to a producer of their own.
    """
    configs = _configs("run", settings, client_options)
    writer = dead_letter_writer(settings)
    consumer: Consumer = stack.enter_context(client_for(configs.pop("consumer")))
    producers: dict[str, Producer] = {}
    for name, config in configs.items():
        if name not in (DEFAULT_PRODUCER, *settings.producers) and writer is not None:
            continue  # dead letters go to stderr
        producers[name] = stack.enter_context(client_for(config))
    return consumer, producers


def dead_letter_writer(settings: RunnerSettings) -> DeadLetterWriter | None:
    """Return where dead letters go instead of their producer: stderr under ``DRY_RUN``.

    Stdout then carries only the handler's outputs.
    """
    if settings.on_error != "dead-letter" or not dry_run():
        return None
    from streamprocessor.runner._deadletters import DeadLetterWriter, json_logs

    return DeadLetterWriter(json_logs())


def run(
    handler: Handler | None,
    settings: RunnerSettings | None = None,
    *client_options: Option,
) -> Runner:
    """Run ``handler`` over ``new_consumer()`` and ``new_producer()`` until the input ends.

    ``handler=None`` forwards messages unchanged. The clients are closed (flushed,
    committed) before this returns or raises; see :meth:`Runner.run` for what it raises.
    An async or wrongly shaped handler is a :class:`ConfigError` before anything opens.
    Returns the finished :class:`Runner` (its :meth:`~Runner.totals` are the counts).
    """
    if handler is not None:
        check_handler(handler)  # before any client opens
    settings = settings or RunnerSettings()
    with ExitStack() as stack:
        consumer, producers = open_clients(stack, settings, *client_options)
        writer = dead_letter_writer(settings)
        runner = Runner(consumer, producers, handler, settings,
                        dead_letters=writer.send if writer is not None else None)
        if settings.stats:
            from streamprocessor.runner._stats import StatsPrinter  # only for --stats

            printer = StatsPrinter(
                runner.totals, consumer.backlog, settings.stats_interval.total_seconds()
            )
            printer.start()
            stack.callback(printer.stop)
        runner.run()
    return runner


def _section(config: ClientConfig) -> dict[str, Any]:
    getattr(config, config.type)  # the chosen type's section, built if no option set it
    data = redacted_dict(config)
    # show the section of the chosen client type only
    return {k: v for k, v in data.items() if not isinstance(v, dict) or k == config.type}


def effective_config(
    command: str, settings: RunnerSettings, *client_options: Option
) -> dict[str, Any]:
    """Return what ``--print-config`` prints: runner settings and every client's config.

    Built without connecting anywhere; secrets are redacted. The client types are chosen
    and every config is checked as the factory and the clients would at a run's start:
    what a run refuses with :class:`ConfigError` is refused here with the same message.
    """
    runner = {
        s.field: render_value(getattr(settings, s.field))
        for s in SETTINGS
        if command in s.commands and hasattr(settings, s.field)
    }
    if runner.get("handler_timeout") is None and "handler_timeout" in runner:
        runner["handler_timeout"] = "auto"
    if runner.get("shutdown_timeout") is None and "shutdown_timeout" in runner:
        runner["shutdown_timeout"] = "(each client's own)"
    configs = _configs(command, settings, client_options)
    consumer = _section(configs.pop("consumer"))
    return {
        "runner": runner,
        "consumer": consumer,
        "producers": {name: _section(config) for name, config in configs.items()},
    }
