"""Bounded waits of the Kafka client: unreachable brokers, guards, helper threads.

No broker is needed: an unreachable address is the point.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest

from streamprocessor import options
from streamprocessor.clients import kafka
from streamprocessor.clients.kafka._lifecycle import (
    ConsumeGate,
    HandleGuard,
    LibrdkafkaLog,
    run_bounded,
)
from streamprocessor.stream.errors import ClientError, ConfigError
from streamprocessor.util.barrier import BARRIER

UNREACHABLE = "127.0.0.1:1"


def quick(*opts: Any) -> list[Any]:
    return [
        options.kafka_broker(UNREACHABLE),
        options.kafka_topic("t"),
        options.kafka_connect_timeout("1s"),
        options.manual_interrupt_handling(),
        *opts,
    ]


def test_unreachable_broker_fails_a_consumer_within_the_connect_timeout() -> None:
    start = time.monotonic()
    with pytest.raises(ClientError, match=r"unable to reach Kafka at 127\.0\.0\.1:1 within 1s"):
        kafka.new_consumer(*quick(options.kafka_group_id("g")))
    assert time.monotonic() - start < 5


def test_unreachable_broker_fails_a_producer_and_leaves_no_tracker() -> None:
    before = len(BARRIER.trackers)
    start = time.monotonic()
    with pytest.raises(ClientError, match="PRODUCER_KAFKA_BROKERS"):
        kafka.new_producer(*quick())
    assert time.monotonic() - start < 5
    assert len(BARRIER.trackers) == before


def test_unresolvable_broker_name_fails_within_the_connect_timeout() -> None:
    start = time.monotonic()
    with pytest.raises(ClientError, match="unable to reach Kafka"):
        kafka.new_producer(
            options.kafka_broker("no-such-host.invalid:9092"),
            options.kafka_topic("t"),
            options.kafka_connect_timeout("1s"),
            options.manual_interrupt_handling(),
        )
    assert time.monotonic() - start < 5


def test_invalid_librdkafka_value_is_a_config_error_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match="PRODUCER_KAFKA_RETRY_BACKOFF"):
        kafka.new_producer(*quick(options.kafka_retry_backoff("1h")))


def test_missing_ssl_file_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="ssl"):
        kafka.new_consumer(
            *quick(
                options.kafka_group_id("g"),
                options.kafka_security_protocol("ssl"),
                options.kafka_ssl("/no/such/ca.pem", "", "", "", "", "", ""),
            )
        )


def test_unknown_passthrough_property_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"no\.such\.property.*LIBRDKAFKA_CONFIG"):
        kafka.new_producer(*quick(options.kafka_librdkafka_config({"no.such.property": "1"})))


def test_guard_shut_waits_for_calls_in_progress() -> None:
    g = HandleGuard()
    assert g.enter()
    threading.Timer(0.1, g.exit).start()
    start = time.monotonic()
    assert g.shut(2.0)
    assert time.monotonic() - start >= 0.09
    assert not g.enter()


def test_guard_shut_gives_up_after_its_timeout() -> None:
    g = HandleGuard()
    assert g.enter()
    assert not g.shut(0.05)


def test_run_bounded_returns_the_result_or_gives_up() -> None:
    assert run_bounded(lambda: 7, 1.0, "t") == (True, 7, None)
    done, _, _ = run_bounded(lambda: time.sleep(1), 0.05, "t")
    assert not done
    done, _, exc = run_bounded(lambda: 1 / 0, 1.0, "t")
    assert done and isinstance(exc, ZeroDivisionError)


def test_gate_lets_another_thread_in_between_two_consumes() -> None:
    gate = ConsumeGate()
    stop = threading.Event()

    def iterate() -> None:
        while not stop.is_set():
            with gate.iterate():
                time.sleep(0.02)

    t = threading.Thread(target=iterate, daemon=True)
    t.start()
    time.sleep(0.05)
    start = time.monotonic()
    with gate.other():
        waited = time.monotonic() - start
    stop.set()
    t.join(1)
    assert waited < 0.5


def test_statistics_are_logged_at_the_statistics_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """librdkafka statistics arrive as an INFO record carrying the JSON."""
    with caplog.at_level(logging.INFO, logger="streamprocessor"):
        p = kafka.new_producer(
            options.kafka_broker(UNREACHABLE),
            options.kafka_topic("t"),
            options.kafka_connect_timeout("0s"),
            options.kafka_statistics_interval("100ms"),
            options.manual_interrupt_handling(),
        )
        try:
            deadline = time.monotonic() + 5
            while not any(r.message == "Received Kafka statistics." for r in caplog.records):
                assert time.monotonic() < deadline
                time.sleep(0.05)
        finally:
            p.close()
    record = next(r for r in caplog.records if r.message == "Received Kafka statistics.")
    assert '"type": "producer"' in record.statistics or '"type":"producer"' in record.statistics


def test_librdkafka_lines_that_only_repeat_are_logged_once_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    log = LibrdkafkaLog(logging.getLogger("streamprocessor.test"), 10.0, lambda: now[0])

    def fail(ms: int) -> None:  # what confluent-kafka calls for a refused connection
        log.log(logging.ERROR, "%s [%s] %s", "FAIL", "rdkafka#consumer-1",
                f"127.0.0.1:9/bootstrap: Connect to ipv4#127.0.0.1:9 failed (after {ms}ms)")

    with caplog.at_level(logging.DEBUG, logger="streamprocessor.test"):
        fail(0)
        for ms in range(1, 30):
            now[0] += 0.2
            fail(ms)
        log.log(logging.INFO, "%s [%s] %s", "CONFWARN", "rdkafka#consumer-1", "another line")
        now[0] += 10.0
        fail(99)
    lines = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert [lvl for lvl, _ in lines] == [logging.WARNING, logging.INFO, logging.WARNING]
    assert "more like it" not in lines[0][1]
    assert "another line" in lines[1][1]
    assert lines[2][1].endswith("(and 29 more like it in the last 10s)")
