"""Brokers of the reliability suite, and the report of measured figures.

The suite always starts its own brokers (never ``STREAMPROCESSOR_TEST_KAFKA_BROKERS``): it
kills and restarts them, and it needs settings a shared broker may not have.

- ``secure_kafka`` (session): one node with PLAINTEXT, SSL (mutual TLS) and SASL_SSL
  (SCRAM) listeners, formatted once with the SCRAM login, automatic topic creation off (so
  a missing topic stays missing). Scenarios 1, 2, 4, 6 and 7 use it.
- scenarios 3 and 5 start the clusters they kill themselves.

When Java, Maven or the jars are missing, starting a broker raises and the tests fail with
the reason: they never skip.

Every test may add figures with the ``figures`` fixture; they are printed at the end of the
session (``-s`` not needed) and written to ``$RELIABILITY_FIGURES`` when that is set (JSON
lines), which is how docs/RELIABILITY.md is kept true.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from oracle import SCRAM_USER

from streamprocessor.testing.kafka_broker import (
    KafkaCluster,
    TlsFiles,
    create_test_certificates,
)

_FIGURES: list[dict[str, Any]] = []


@pytest.fixture(scope="session")
def scram_password() -> str:
    """The SCRAM password of ``SCRAM_USER``: random, so a leak in a log cannot be missed."""
    return "pw-" + secrets.token_hex(12)


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A CA, a broker certificate for IP:127.0.0.1 and a client certificate (openssl)."""
    return create_test_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def secure_kafka(tls_files: TlsFiles, scram_password: str) -> Iterator[KafkaCluster]:
    """One broker: PLAINTEXT, SSL and SASL_SSL listeners; no automatic topic creation."""
    cluster = KafkaCluster(
        nodes=1,
        auto_create_topics=False,
        tls=tls_files,
        scram_users={SCRAM_USER: scram_password},
    )
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    """Where the processes of one test write their logs."""
    return tmp_path


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Callable[..., None]:
    """Record measured figures of this test: ``figures(missing=0, duplicates=12, ...)``."""

    def add(**values: Any) -> None:
        _FIGURES.append({"test": request.node.name, "date": time.strftime("%Y-%m-%d"), **values})

    return add


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the figures measured in this session (and append them to $RELIABILITY_FIGURES)."""
    if not _FIGURES:
        return
    terminalreporter.section("reliability figures")
    for row in _FIGURES:
        terminalreporter.write_line(json.dumps(row, sort_keys=False, default=str))
    target = os.environ.get("RELIABILITY_FIGURES")
    if target:
        with Path(target).open("a", encoding="utf-8") as out:
            for row in _FIGURES:
                out.write(json.dumps(row, default=str) + "\n")
