"""The shared log throttle, and the Kafka log sites that repeat during an outage."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from confluent_kafka import KafkaError

from streamprocessor.clients.kafka._assignment import Assignment
from streamprocessor.clients.kafka._errors import Severity, log_transient
from streamprocessor.clients.kafka._offsets import PartitionState
from streamprocessor.util.throttle import THROTTLE, LogThrottle


def test_one_line_per_cause_per_interval_with_the_count_of_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    throttle = LogThrottle(10.0, lambda: now[0])
    log = logging.getLogger("streamprocessor.test.throttle")
    with caplog.at_level(logging.DEBUG, logger=log.name):
        for _ in range(40):
            throttle.warning(log, "a", "cause a %d", 1)
            throttle.warning(log, "b", "cause b")
            now[0] += 0.25
        throttle.warning(log, "a", "cause a %d", 2)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["cause a 1", "cause b", "cause a 2 (and 39 more like it in the last 10s)"]
    assert caplog.records[-1].suppressed == 39


def _err(code: int) -> Any:
    return KafkaError(code, "1/1 brokers are down")


def test_transient_kafka_errors_are_logged_once_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = logging.getLogger("streamprocessor.test.transient")
    with caplog.at_level(logging.WARNING, logger=log.name):
        for _ in range(40):  # an outage: ~4 a second for 10 s
            log_transient(log, "consumer", _err(KafkaError._ALL_BROKERS_DOWN), Severity.IGNORED)
            log_transient(log, "consumer", _err(KafkaError._TRANSPORT), Severity.TRANSIENT)
    assert len(caplog.records) == 2
    # each line names its cause as fields, so a log filter (or a count) can tell them apart
    assert [(r.client, r.code) for r in caplog.records] == [  # type: ignore[attr-defined]
        ("consumer", "_ALL_BROKERS_DOWN"), ("consumer", "_TRANSPORT")
    ]


def test_acks_of_revoked_partitions_log_one_line_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    owner = object()
    log = logging.getLogger("streamprocessor.test.revoked")
    parts = Assignment(owner, None, log)
    state = PartitionState(owner, "t", 0)
    state.revoked = True
    with caplog.at_level(logging.WARNING, logger=log.name):
        for i in range(100):  # one batch of acks after another, after a lost session
            parts.ack_groups([(state, [2 * i, 2 * i + 1])])
            parts.ack([(state, 1000 + i)])
    assert len(caplog.records) == 1
    assert "Ignoring 2 acknowledgement(s) of t[0] (offsets 0 to 1)" in caplog.records[0].message


@pytest.fixture(autouse=True)
def _fresh_throttle() -> None:
    THROTTLE._seen.clear()


def test_long_partition_lists_are_summarised_per_topic() -> None:
    from confluent_kafka import TopicPartition

    from streamprocessor.clients.kafka._assignment import fmt

    many = [TopicPartition("orders", p) for p in range(1000) if p != 500]
    many.append(TopicPartition("audit", 3))
    assert fmt(many) == (
        "999 partitions of 'orders' (0-499, 501-999); 1 partition of 'audit' (3)"
    )
    assert fmt([TopicPartition("t", 0, 5)]) == "t[0]@5"
