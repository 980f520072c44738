"""Which librdkafka errors end a Kafka client."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError

from streamprocessor.clients.kafka.errors import Severity, classify, describe
from streamprocessor.config.kafka import CONSUMER_IGNORE_ERRORS

E = KafkaError
DEFAULT = frozenset(CONSUMER_IGNORE_ERRORS)


@pytest.mark.parametrize(
    "code",
    [E._TRANSPORT, E._ALL_BROKERS_DOWN, E._RESOLVE, E.LEADER_NOT_AVAILABLE, E._MAX_POLL_EXCEEDED],
)
def test_broker_restart_errors_are_ignored_by_default(code: int) -> None:
    assert classify(E(code), DEFAULT) is Severity.IGNORED


@pytest.mark.parametrize("code", [E._TIMED_OUT, E.COORDINATOR_NOT_AVAILABLE, E._MSG_TIMED_OUT])
def test_other_recoverable_errors_are_transient(code: int) -> None:
    assert classify(E(code), DEFAULT) is Severity.TRANSIENT


@pytest.mark.parametrize(
    "code",
    [
        E._AUTHENTICATION,
        E.SASL_AUTHENTICATION_FAILED,
        E.TOPIC_AUTHORIZATION_FAILED,
        E.GROUP_AUTHORIZATION_FAILED,
        E._SSL,
        E._INVALID_ARG,
        E.UNKNOWN_TOPIC_OR_PART,
        E._UNKNOWN_TOPIC,
    ],
)
def test_terminal_causes_are_fatal(code: int) -> None:
    assert classify(E(code), DEFAULT) is Severity.FATAL


def test_librdkafka_fatal_errors_are_fatal_even_when_listed() -> None:
    err = E(E._TRANSPORT, "gone", fatal=True)
    assert classify(err, DEFAULT) is Severity.FATAL


def test_the_ignore_list_overrides_terminal_codes() -> None:
    assert classify(E(E.UNKNOWN_TOPIC_OR_PART), {E.UNKNOWN_TOPIC_OR_PART}) is Severity.IGNORED


def test_an_empty_ignore_list_makes_every_error_fatal() -> None:
    assert classify(E(E._TRANSPORT), frozenset()) is Severity.FATAL


def test_describe_names_the_code_and_what_to_check() -> None:
    text = describe(E(E._SSL, "certificate verify failed"))
    assert "certificate verify failed" in text
    assert "_SSL" in text
    assert "KAFKA_SSL_" in text
