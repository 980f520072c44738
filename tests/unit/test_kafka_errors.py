"""Which librdkafka errors end a Kafka client."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError

from streamprocessor.clients.kafka._errors import Severity, classify, describe
from streamprocessor.clients.kafka.config import CONSUMER_IGNORE_ERRORS

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


def test_confluent_kafka_exceptions_become_errors_of_our_tree() -> None:
    """The one boundary: unwrap the librdkafka error, word it, raise ours from it."""
    from confluent_kafka import KafkaException

    from streamprocessor.clients.kafka._errors import error_text, kafka_error, translated
    from streamprocessor.stream import ClientError, StreamProcessorError

    exc = KafkaException(E(E._ALL_BROKERS_DOWN))
    assert kafka_error(exc) is exc.args[0]
    error = translated(exc, "unable to compute the backlog")
    assert isinstance(error, ClientError) and isinstance(error, StreamProcessorError)
    assert str(error) == f"unable to compute the backlog: {describe(exc.args[0])}"
    assert "(_ALL_BROKERS_DOWN)" in str(error)
    other = KafkaException("no KafkaError inside")
    assert kafka_error(other) is None and kafka_error(ValueError("x")) is None
    assert error_text(other) == "no KafkaError inside"
    assert str(translated(other, "doing")) == "doing: no KafkaError inside"


def test_the_runners_and_the_test_kits_errors_are_in_the_tree_and_what_they_were() -> None:
    from streamprocessor.runner import HandlerFailedError, HandlerOutputError
    from streamprocessor.runner.handler import HandlerError
    from streamprocessor.stream import StreamProcessorError
    from streamprocessor.testing import kafka_broker as kb

    for cls in (HandlerError, HandlerOutputError, HandlerFailedError, kb.KafkaBrokerError,
                kb.JarFetchError, kb.BrokerStartError, kb.CertificateError):
        assert issubclass(cls, StreamProcessorError), cls
    assert issubclass(HandlerOutputError, TypeError)
    for cls in (kb.KafkaBrokerError, kb.JarFetchError, kb.BrokerStartError, kb.CertificateError):
        assert issubclass(cls, RuntimeError), cls
