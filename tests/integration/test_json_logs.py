"""STREAMPROCESSOR_LOG_FORMAT=json: every line a real process writes to stderr is JSON.

Sources: usage errors (argparse's and ours), ``--stats`` lines, Python warnings, uncaught
exceptions (the traceback is a field), librdkafka's own lines, the client's one-line
summary, and a fatal client error (logged once).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_cli_helpers import ROOT, env, run
from test_cli_kafka import kafka_env

from streamprocessor.clients.kafka import testing as kt

JSON = {"STREAMPROCESSOR_LOG_FORMAT": "json"}


def records(stderr: bytes) -> list[dict[str, Any]]:
    """Parse every stderr line; fail naming the first line that is not one JSON object."""
    docs = []
    for line in stderr.decode().splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            raise AssertionError(f"not JSON: {line!r}\n--- stderr:\n{stderr.decode()}") from None
        assert isinstance(doc, dict) and {"time", "level", "message"} <= doc.keys(), line
        docs.append(doc)
    assert docs, "nothing on stderr"
    return docs


@pytest.mark.parametrize(
    ("args", "extra", "says"),
    [
        (["run", "--no-such-flag"], {}, "unrecognized arguments"),
        (["nope"], {}, "invalid choice"),
        (["run"], {}, "the handler MODULE:FUNCTION is required"),
        (["pipe"], {}, "PRODUCER_CLIENT_TYPE"),
    ],
)
def test_usage_errors_are_json(args: list[str], extra: dict[str, str], says: str) -> None:
    done = run(args, **JSON, **extra)
    assert done.returncode == 2
    docs = records(done.stderr)
    assert any(says in d["message"] for d in docs), docs


def test_stats_lines_are_json() -> None:
    done = run(["pipe", "--stats", "--stats-interval", "50ms"], b"a\nb\n", **JSON,
               CONSUMER_CLIENT_TYPE="standardstream", PRODUCER_CLIENT_TYPE="standardstream")
    assert done.returncode == 0, done.stderr
    stats = [d for d in records(done.stderr) if d["logger"] == "streamprocessor.stats"]
    assert stats and stats[-1]["totals"]["in"] == 2


def test_warnings_and_uncaught_exceptions_are_json(tmp_path: Path) -> None:
    code = (
        "import threading, warnings\n"
        "from streamprocessor.runner._logs import configure_logging\n"
        "configure_logging('info', 'json')\n"
        "warnings.warn('old api')\n"
        "t = threading.Thread(target=lambda: 1 / 0); t.start(); t.join()\n"
        "raise RuntimeError('boom')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30,
                          env=env(), cwd=ROOT, check=False)
    assert done.returncode == 1
    docs = records(done.stderr)
    assert any("old api" in d["message"] for d in docs)
    thread = next(d for d in docs if "ZeroDivisionError" in d["message"])
    assert "Traceback" in thread["exception"]
    main = next(d for d in docs if "RuntimeError" in d["message"])
    assert main["level"] == "critical" and "RuntimeError: boom" in main["exception"]


@pytest.mark.kafka
def test_kafka_lines_are_json_short_and_a_fatal_error_is_logged_once(
    kafka_brokers: str, kafka_topic: Callable[..., str], tmp_path: Path
) -> None:
    src, dst = kafka_topic(), kafka_topic()
    kt.produce_messages(kafka_brokers, src, "a")
    handler = tmp_path / "too_big.py"  # an output over the producer's message.max.bytes
    handler.write_text("from streamprocessor import Message\n"
                       "handle = lambda msg: Message(value=bytes(3_000_000))\n")
    variables = {**JSON, **kafka_env(kafka_brokers, src, dst, kt.random_name("g")),
                 "CONSUMER_KAFKA_DEBUG": "broker", "STREAMPROCESSOR_LOG_LEVEL": "debug"}
    done = run(["run", f"{handler}:handle"], timeout=60, **variables)
    assert done.returncode == 1, done.stderr
    docs = records(done.stderr)
    assert any(re.match(r"[A-Z]+ \[rdkafka#consumer", d["message"]) for d in docs)  # librdkafka
    info = [d for d in docs if d["level"] == "info"]
    clients = [d for d in info if d.get("client") == "kafka" and "kind" in d]
    assert [d["kind"] for d in clients] == ["consumer", "producer"]
    assert all(len(d["message"]) < 300 and "config" not in d for d in clients), clients
    failures = [d for d in docs if d["level"] in ("error", "critical")
                and "MSG_SIZE_TOO_LARGE" in json.dumps(d)]
    assert len(failures) == 1, failures
