"""The ``streamprocessor`` command (also ``python -m streamprocessor``).

::

    streamprocessor run MODULE:FUNCTION [--producer NAME]... [--concurrency N] [--on-error …]
    streamprocessor pipe [--stats]

``run`` imports the handler and runs it over the consumer and producers the environment
asks for (see :mod:`streamprocessor.runner`); ``pipe`` forwards every message unchanged.
``--help`` on either lists every flag and every environment variable, generated from the
tables the code reads. Exit status: 0 done (also after SIGTERM/Ctrl-C), 1 a handler
failure under ``--on-error stop``, a fatal client error, a stuck handler or a shutdown
that timed out (or a second Ctrl-C), 2 a usage or configuration error.
"""

from __future__ import annotations

import argparse
import gc
import logging
import signal
import sys
import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from streamprocessor import __version__

# Loading the runner, the config models and pydantic allocates ~100 000 objects that all
# stay alive: a garbage collection while they load finds nothing and cost ~4 % of a
# stdin run's start-up. (The runner sets its own thresholds for the run itself.)
_collecting = gc.isenabled()
gc.disable()
try:
    from streamprocessor.runner import (
        DEFAULT_PRODUCER,
        HandlerFailedError,
        Runner,
        RunnerSettings,
        effective_config,
        load_handler,
        producer_names,
        run,
        settings_for,
    )
    from streamprocessor.runner._logs import JsonFormatter, configure_logging, log_format
    from streamprocessor.runner.handler import Handler
    from streamprocessor.runner.settings import from_sources
    from streamprocessor.stream import ConfigError, StreamProcessorError
finally:
    if _collecting:
        gc.enable()

if TYPE_CHECKING:
    from streamprocessor.cli.usage import Section

__all__ = ["EXIT_FAILURE", "EXIT_OK", "EXIT_USAGE", "console", "main"]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

_log = logging.getLogger("streamprocessor.cli")

EXIT_CODES = """\
exit status:
  0  the input ended, or SIGTERM/Ctrl-C stopped the processor after it finished the
     messages in hand, flushed and committed
  1  the handler failed under --on-error stop; a client failed (broker unreachable,
     delivery failed); a handler call ran past --handler-timeout; the shutdown took
     longer than the shutdown timeout; or a second Ctrl-C
  2  usage or configuration error (bad flag or variable, handler not importable, no
     client type)
"""

_PIPE_EXIT_CODES = """\
exit status:
  0  the input ended, or SIGTERM/Ctrl-C stopped the processor after it finished the
     messages in hand, flushed and committed
  1  a client failed (broker unreachable, delivery failed); the shutdown took longer
     than the shutdown timeout; or a second Ctrl-C
  2  usage or configuration error (bad flag or variable, no client type)
"""

_ABOUT = {
    "run": (
        "Run a handler over every message: consume, call MODULE:FUNCTION, produce what it "
        "returns, acknowledge once that is delivered."
    ),
    "pipe": "Consume and produce every message unchanged.",
}


class _Parser(argparse.ArgumentParser):
    """argparse, with its usage errors in the log format (one JSON object under json)."""

    def error(self, message: str) -> NoReturn:
        """Report a usage error and exit with status 2."""
        if log_format() != "json":
            super().error(message)
        _error(message, self.format_usage())
        sys.exit(EXIT_USAGE)


def _parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    top: argparse.ArgumentParser = _Parser(
        prog="streamprocessor",
        description="Run stream processors on Kafka, in memory and on stdin/stdout.",
        epilog="Run 'streamprocessor COMMAND --help' for every flag and environment "
        "variable of a command.\n\n" + EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top.add_argument("--version", action="version", version=f"streamprocessor {__version__}")
    sub = top.add_subparsers(dest="command", metavar="COMMAND")
    commands: dict[str, argparse.ArgumentParser] = {}
    for command in ("run", "pipe"):
        p = sub.add_parser(
            command,
            help=_ABOUT[command],
            description=textwrap.fill(_ABOUT[command], 78),
            add_help=False,
            epilog=EXIT_CODES if command == "run" else _PIPE_EXIT_CODES,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.add_argument("-h", "--help", action="store_true",
                       help="show this help, with every environment variable, and exit")
        if command == "run":
            p.add_argument("handler", nargs="?", metavar="MODULE:FUNCTION",
                           help="the handler: a function taking a Message (a file path "
                           "such as handlers.py:handle works too)")
        p.add_argument("--print-config", action="store_true",
                       help="print the effective configuration (secrets redacted) and exit")
        for s in settings_for(command):
            if s.flag is None:
                continue
            text = f"{s.description} (default: {s.default_text or 'none'})"
            if s.kind == "bool":
                p.add_argument(s.flag, dest=s.field, action="store_true", help=text)
            elif s.kind == "names":
                p.add_argument(s.flag, dest=s.field, action="append", metavar=s.metavar,
                               help=text)
            else:
                p.add_argument(s.flag, dest=s.field, metavar=s.metavar, help=text)
        commands[command] = p
    return top, commands


def _runner_section(command: str) -> Section:
    from streamprocessor.cli.usage import Section, variable_row  # only for --help
    from streamprocessor.config.variables import env_prefix

    rows = [variable_row(s, env_prefix("runner")) for s in settings_for(command)]
    return Section(
        "STREAMPROCESSOR",
        "how to configure the runner itself (a flag wins over its variable).",
        ["The runner's variables all start with STREAMPROCESSOR_:"],
        rows,
    )


def help_text(command: str, parser: argparse.ArgumentParser, settings: RunnerSettings) -> str:
    """Return the ``--help`` page of ``command``: its flags, then every variable."""
    extra = producer_names(settings) if command == "run" else []
    from streamprocessor.cli.usage import About, render_usage

    about = About(
        name=f"streamprocessor {command}",
        usage=parser.format_help(),
        consumers=["consumer"],
        producers=[DEFAULT_PRODUCER, *extra],
    )
    return render_usage(about, sections=[_runner_section(command)])


def _error(text: str, usage: str = "") -> None:
    """Write a usage error before logging is configured, in the log format."""
    if log_format() == "json":
        record = logging.LogRecord("streamprocessor.cli", logging.ERROR, "", 0, text, (), None)
        if usage:
            record.usage = usage.strip()
        sys.stderr.write(JsonFormatter().format(record) + "\n")
    else:
        sys.stderr.write(f"{usage}streamprocessor: error: {text}\n")
    sys.stderr.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    top, commands = _parser()
    args = top.parse_args(argv)
    if args.command is None:
        top.print_help()
        return EXIT_USAGE
    command: str = args.command
    parser = commands[command]
    flags = {s.field: getattr(args, s.field, None) for s in settings_for(command)}
    try:
        settings, log_choices = from_sources(command, flags, _environ())
    except ConfigError as exc:
        if args.help:  # still show the help, with the defaults
            sys.stdout.write(help_text(command, parser, RunnerSettings()) + "\n")
            return EXIT_OK
        _error(str(exc))
        return EXIT_USAGE
    if args.help:
        sys.stdout.write(help_text(command, parser, settings) + "\n")
        return EXIT_OK
    configure_logging(log_choices["log_level"], log_choices["log_format"])
    handler: Handler | None = None
    if command == "run":
        if not args.handler:
            _error("the handler MODULE:FUNCTION is required", parser.format_usage())
            return EXIT_USAGE
        try:
            handler = load_handler(args.handler)
        except ConfigError as exc:
            _log.error("%s", exc)
            return EXIT_USAGE
        except Exception as exc:
            _log.error("Importing the handler %s failed: %s", args.handler, exc, exc_info=exc)
            return EXIT_USAGE
    if args.print_config:
        return _print_config(command, settings)
    return _run(handler, settings)


def console() -> int:
    """The ``streamprocessor`` command (and ``python -m streamprocessor``): :func:`main`.

    Then the process ends: its last garbage collection would walk every module, config
    and client object still alive, a tenth of a short run's time. Frozen first, they are
    left to the operating system (output is flushed and the clients closed by then).
    """
    status = main()
    gc.freeze()
    return status


def _environ() -> dict[str, str]:
    import os

    return dict(os.environ)


def _print_config(command: str, settings: RunnerSettings) -> int:
    try:
        doc = effective_config(command, settings)
    except ConfigError as exc:
        _log.error("%s", exc)
        return EXIT_USAGE
    import json

    sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")
    return EXIT_OK


def _run(handler: Handler | None, settings: RunnerSettings) -> int:
    runner: Runner | None = None
    try:
        runner = run(handler, settings)
    except ConfigError as exc:
        _log.error("%s", exc)
        return EXIT_USAGE
    except HandlerFailedError as exc:
        _log.error("%s; stopping (exit status 1). The message is not acknowledged: it "
                   "will be consumed again after a restart. Fix the handler, or let such "
                   "messages pass with --retries N, --on-error skip or --on-error "
                   "dead-letter.", exc, exc_info=exc.error)
        return EXIT_FAILURE
    except StreamProcessorError as exc:
        _log.error("Fatal client error: %s; every client was closed (exit status 1).", exc,
                   exc_info=_log.isEnabledFor(logging.DEBUG))
        return EXIT_FAILURE
    except KeyboardInterrupt:
        _log.info("Interrupted before processing began; exiting.")
        return EXIT_OK
    except SystemExit as exc:
        if exc.code in (128 + signal.SIGTERM, 128 + signal.SIGQUIT):
            _log.info("Terminated before processing began; exiting.")
            return EXIT_OK
        raise
    _log.info("Done: %s.", _summary(runner.totals()))
    return EXIT_OK


def _summary(totals: dict[str, Any]) -> str:
    names = {"dead_letters": "dead letters"}
    return ", ".join(f"{v} {names.get(k, k)}" for k, v in totals.items())
