"""The streamprocessor command in-process: help, print-config and exit codes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from streamprocessor.cli import EXIT_OK, EXIT_USAGE, main
from streamprocessor.config import variables_for
from streamprocessor.runner import settings_for


def _keys(text: str) -> set[str]:
    return {line.split()[0] for line in text.splitlines()
            if re.match(r"^[A-Z0-9_]+_[A-Z0-9_]+(\s|$)", line)}


def test_run_help_lists_flags_and_every_variable(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--help"]) == EXIT_OK
    text = capsys.readouterr().out
    keys = _keys(text)
    for s in settings_for("run"):
        assert s.env in keys
        if s.flag:
            assert s.flag in text
    for kind in ("consumer", "producer"):
        for var in variables_for(kind):  # type: ignore[arg-type]
            assert f"{kind.upper()}_{var.suffix}" in keys
    assert "exit status:" in text


def test_run_help_lists_the_named_producers(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--producer", "invalid", "--on-error", "dead-letter", "-h"]) == 0
    keys = _keys(capsys.readouterr().out)
    assert "INVALID_PRODUCER_KAFKA_TOPIC" in keys
    assert "DEAD_LETTER_PRODUCER_KAFKA_TOPIC" in keys


def test_pipe_help_has_no_handler_settings(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pipe", "--help"]) == EXIT_OK
    text = capsys.readouterr().out
    assert "STREAMPROCESSOR_STATS" in text
    assert "--on-error" not in text
    assert "CONSUMER_KAFKA_BROKERS" in text


def test_no_command_prints_usage_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == EXIT_USAGE
    assert "run" in capsys.readouterr().out


def test_an_unknown_flag_exits_2() -> None:
    with pytest.raises(SystemExit) as info:
        main(["pipe", "--nonsense"])
    assert info.value.code == 2


def test_run_without_handler_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run"]) == EXIT_USAGE
    assert "MODULE:FUNCTION is required" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("spec", "said"),
    [
        ("nohandlerhere", "expected MODULE:FUNCTION"),
        ("no_such_module_xyz:handle", "no module named 'no_such_module_xyz'"),
        ("json:no_such_function", "has no attribute 'no_such_function'"),
        ("json:__doc__", "not a function"),
    ],
)
def test_a_bad_handler_exits_2(spec: str, said: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", spec]) == EXIT_USAGE
    assert said in capsys.readouterr().err


def test_an_invalid_variable_exits_2(monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("STREAMPROCESSOR_CONCURRENCY", "lots")
    assert main(["run", "json:dumps"]) == EXIT_USAGE
    assert "'lots' for STREAMPROCESSOR_CONCURRENCY" in capsys.readouterr().err


def test_no_client_type_exits_2(stream_env: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    stream_env.setenv("CONSUMER_CLIENT_TYPE", "kafak")
    assert main(["pipe"]) == EXIT_USAGE
    assert "did you mean 'kafka'" in capsys.readouterr().err


def test_print_config_redacts_secrets(stream_env: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    stream_env.setenv("CONSUMER_CLIENT_TYPE", "kafka")
    stream_env.setenv("CONSUMER_KAFKA_BROKERS", "127.0.0.1:1")
    stream_env.setenv("CONSUMER_KAFKA_TOPICS", "t")
    stream_env.setenv("CONSUMER_KAFKA_GROUP_ID", "g")
    stream_env.setenv("CONSUMER_KAFKA_SASL_PASSWORD", "hunter2")
    stream_env.setenv("CONSUMER_KAFKA_COMMIT_INTERVAL", "1s")
    stream_env.setenv("INVALID_PRODUCER_KAFKA_TOPIC", "bad")
    stream_env.setenv("DRY_RUN", "1")
    assert main(["run", "json:dumps", "--producer", "invalid", "--print-config"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "hunter2" not in out
    doc = json.loads(out)
    assert doc["runner"]["producers"] == ["invalid"]
    assert doc["runner"]["retry_backoff"] == "100ms"
    assert doc["consumer"]["type"] == "kafka"
    assert doc["consumer"]["kafka"]["commit_interval"] == "1s"
    assert doc["consumer"]["kafka"]["sasl"]["password"] == "********"
    assert "inmem" not in doc["consumer"]
    assert doc["producers"]["producer"]["type"] == "standardstream"
    assert doc["producers"]["invalid"]["name"] == "invalid"


def test_handler_from_a_file_path(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                  stream_env: pytest.MonkeyPatch) -> None:
    f = tmp_path / "myhandler.py"
    f.write_text("def handle(msg):\n    return msg\n")
    stream_env.setenv("CONSUMER_CLIENT_TYPE", "inmem")
    stream_env.setenv("DRY_RUN", "1")
    assert main(["run", f"{f}:handle", "--print-config"]) == EXIT_OK


@pytest.mark.parametrize(
    ("env", "said"),
    [
        ({"CONSUMER_CLIENT_TYPE": "kafak"}, "did you mean 'kafka'"),
        ({"CONSUMER_CLIENT_TYPE": "kafka"}, "required config kafka.brokers is empty"),
        ({"CONSUMER_CLIENT_TYPE": "kafka", "CONSUMER_KAFKA_BROKERS": "b:9092",
          "CONSUMER_KAFKA_TOPICS": "t"}, "kafka.group_id is missing"),
        ({"CONSUMER_CLIENT_TYPE": "inmem"}, "producer client type"),
        ({"CONSUMER_CLIENT_TYPE": "inmem", "PRODUCER_CLIENT_TYPE": "kafka",
          "PRODUCER_KAFKA_BROKERS": "b:9092"}, "kafka.topic is missing"),
    ],
)
def test_print_config_refuses_what_a_run_refuses(
    env: dict[str, str], said: str, stream_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Same exit status, same message as the run (which fails before connecting)."""
    for k, v in env.items():
        stream_env.setenv(k, v)
    assert main(["run", "json:dumps"]) == EXIT_USAGE
    run_err = capsys.readouterr().err
    assert said in run_err
    assert main(["run", "json:dumps", "--print-config"]) == EXIT_USAGE
    captured = capsys.readouterr()
    assert captured.out == ""
    assert run_err.split("ERROR ", 1)[1] == captured.err.split("ERROR ", 1)[1]
