"""Runner settings: flags win over variables, variables over defaults; bad values are named."""

from __future__ import annotations

import io
import json
import logging
import time
from datetime import timedelta

import pytest

from streamprocessor.runner._logs import JsonFormatter, TextFormatter
from streamprocessor.runner._stats import StatsPrinter, format_stats
from streamprocessor.runner.settings import (
    SETTINGS,
    RunnerSettings,
    from_sources,
    parse_setting,
    settings_for,
)
from streamprocessor.stream import ConfigError


def test_defaults_without_flags_or_variables() -> None:
    settings, logs = from_sources("run", {}, {})
    assert settings == RunnerSettings()
    assert logs == {"log_level": "info", "log_format": "text"}


def test_variables_set_the_settings() -> None:
    env = {
        "STREAMPROCESSOR_CONCURRENCY": "4",
        "STREAMPROCESSOR_ON_ERROR": "Dead-Letter",
        "STREAMPROCESSOR_RETRY_BACKOFF": "1.5s",
        "STREAMPROCESSOR_PRODUCERS": "a, b",
        "STREAMPROCESSOR_STATS": "yes",
        "STREAMPROCESSOR_LOG_FORMAT": "JSON",
    }
    settings, logs = from_sources("run", {}, env)
    assert settings.concurrency == 4
    assert settings.on_error == "dead-letter"
    assert settings.retry_backoff == timedelta(seconds=1.5)
    assert settings.producers == ("a", "b")
    assert settings.stats is True
    assert logs["log_format"] == "json"


def test_a_flag_wins_over_its_variable() -> None:
    settings, _ = from_sources(
        "run", {"concurrency": "2", "producers": ["x", "y"]},
        {"STREAMPROCESSOR_CONCURRENCY": "8", "STREAMPROCESSOR_PRODUCERS": "z"},
    )
    assert settings.concurrency == 2
    assert settings.producers == ("x", "y")


@pytest.mark.parametrize(
    ("env", "value", "named"),
    [
        ("STREAMPROCESSOR_CONCURRENCY", "many", "'many' for STREAMPROCESSOR_CONCURRENCY"),
        ("STREAMPROCESSOR_CONCURRENCY", "0", "at least 1"),
        ("STREAMPROCESSOR_ON_ERROR", "retry", "stop, skip, dead-letter"),
        ("STREAMPROCESSOR_RETRY_BACKOFF", "100", "Go duration"),
        ("STREAMPROCESSOR_STATS", "maybe", "true or false"),
        ("STREAMPROCESSOR_LOG_LEVEL", "loud", "debug, info"),
    ],
)
def test_an_invalid_variable_is_an_error_naming_it(env: str, value: str, named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        from_sources("run", {}, {env: value})


def test_an_invalid_flag_is_an_error_naming_the_flag() -> None:
    with pytest.raises(ConfigError, match="'-' for --retries"):
        from_sources("run", {"retries": "-"}, {})


def test_handler_timeout_auto_and_zero() -> None:
    assert from_sources("run", {"handler_timeout": "auto"}, {})[0].handler_timeout is None
    s, _ = from_sources("run", {"handler_timeout": "0s"}, {})
    assert s.handler_timeout == timedelta(0)


def test_pipe_takes_only_its_settings() -> None:
    fields = {s.field for s in settings_for("pipe")}
    assert "on_error" not in fields
    assert {"stats", "shutdown_timeout", "log_level"} <= fields
    settings, _ = from_sources("pipe", {}, {"STREAMPROCESSOR_CONCURRENCY": "3"})
    assert settings.concurrency == 1


def test_every_setting_names_a_field_and_a_default_in_the_typed_form() -> None:
    defaults = RunnerSettings()
    for s in SETTINGS:
        if s.field.startswith("log_"):
            continue
        assert hasattr(defaults, s.field), s.field
        if s.default_text not in ("", "auto"):
            assert parse_setting(s, s.default_text, s.env) == getattr(defaults, s.field) or (
                s.field == "shutdown_timeout"
            )


def test_text_log_lines_carry_extra_fields() -> None:
    record = logging.LogRecord("sp", logging.INFO, "", 0, "hello %s", ("you",), None)
    record.signal = "SIGTERM"
    line = TextFormatter().format(record)
    assert line.endswith("INFO sp: hello you signal=SIGTERM")


def test_json_log_lines_are_objects() -> None:
    record = logging.LogRecord("sp", logging.WARNING, "", 0, "hi", (), None)
    record.client = "kafka"
    doc = json.loads(JsonFormatter().format(record))
    assert doc["level"] == "warning"
    assert doc["message"] == "hi"
    assert doc["client"] == "kafka"
    assert doc["time"].endswith("Z")


def test_stats_line() -> None:
    totals = {"in": 10, "out": 9, "errors": 1, "skipped": 1, "dead_letters": 0}
    line = format_stats(5.0, 4.5, 3, totals)
    assert line.startswith("in 5/s  out 4/s  backlog 3  errors 1  skipped 1")
    assert "dead letters" not in line
    assert format_stats(0, 0, None, totals).split("  ")[2] == "backlog ?"


def test_stats_print_one_line_per_interval_when_not_a_terminal() -> None:
    out = io.StringIO()
    totals = {"in": 0, "out": 0, "errors": 0, "skipped": 0, "dead_letters": 0}
    printer = StatsPrinter(lambda: dict(totals), lambda: 0, 0.05, out)
    printer.start()
    for _ in range(5):
        totals["in"] += 10
        time.sleep(0.03)
    printer.stop()
    lines = out.getvalue().splitlines()
    assert len(lines) >= 2
    assert "\r" not in out.getvalue()
    assert lines[-1].endswith("total in 50 out 0")


def test_stats_rewrite_one_line_on_a_terminal() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Tty()
    totals = {"in": 1, "out": 1, "errors": 0, "skipped": 0, "dead_letters": 0}
    printer = StatsPrinter(lambda: dict(totals), lambda: 0, 0.05, out)
    printer.start()
    time.sleep(0.2)
    printer.stop()
    text = out.getvalue()
    assert text.count("\r\x1b[K") >= 2
    assert text.endswith("\n")
    assert text.count("\n") == 1
