"""Which Kafka errors end a client, and how they read.

librdkafka reports most trouble as information: it reconnects, retries and rejoins by
itself, so a broker restart produces a burst of ``_TRANSPORT`` / ``_ALL_BROKERS_DOWN``
errors that must *not* stop a processor. An error ends a client (it is *fatal*) when

- librdkafka says so (``KafkaError.fatal()``: the handle is unusable), or
- its cause cannot heal by retrying: failed authentication or authorisation, a TLS
  failure, invalid configuration, a topic that does not exist (:data:`TERMINAL_CODES`).

Everything else is logged and ridden out. The original's list of ignorable codes
(``kafka.ignore_errors``) stays available as an override: a code on it is
never fatal (unless librdkafka itself calls the error fatal) and is logged at WARNING as
the original did. An *empty* list (``options.kafka_handle_transient_errors()``) asks for
the original's strict behaviour: every error librdkafka reports is fatal, so even a
broker restart ends the client.

This module is also the one boundary where confluent_kafka's exceptions become ours:
:func:`kafka_error` unwraps one, :func:`translated` builds our error from it.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Collection
from typing import Any

from confluent_kafka import KafkaError, KafkaException

from streamprocessor.stream.errors import ClientError
from streamprocessor.util.throttle import THROTTLE

__all__ = [
    "REFUSAL_CODES",
    "TERMINAL_CODES",
    "Severity",
    "classify",
    "describe",
    "error_text",
    "kafka_error",
    "log_transient",
    "translated",
]


class Severity(enum.Enum):
    """What to do with an error librdkafka reported."""

    #: on the ignore list: log at WARNING, carry on
    IGNORED = "ignored"
    #: librdkafka recovers by itself: log, carry on
    TRANSIENT = "transient"
    #: the client cannot work: report it (default handling closes the client)
    FATAL = "fatal"


_E = KafkaError

#: error code → the hint that follows the error text (what to check)
_HINTS: dict[int, str] = {
    _E._AUTHENTICATION: "authentication failed: check the SASL mechanism, username and "
    "password (options.kafka_sasl, *_KAFKA_SASL_*) and the security protocol",
    _E.SASL_AUTHENTICATION_FAILED: "authentication failed: check the SASL username and "
    "password (options.kafka_sasl, *_KAFKA_SASL_*)",
    _E.UNSUPPORTED_SASL_MECHANISM: "the broker does not offer this SASL mechanism: check "
    "*_KAFKA_SASL_MECHANISM",
    _E.ILLEGAL_SASL_STATE: "SASL handshake failed: check the security protocol and SASL settings",
    _E.TOPIC_AUTHORIZATION_FAILED: "not authorised for the topic: check the broker ACLs",
    _E.GROUP_AUTHORIZATION_FAILED: "not authorised for the consumer group: check the ACLs",
    _E.CLUSTER_AUTHORIZATION_FAILED: "not authorised for the cluster: check the broker ACLs",
    _E.TRANSACTIONAL_ID_AUTHORIZATION_FAILED: "not authorised for the transactional id",
    _E.DELEGATION_TOKEN_AUTHORIZATION_FAILED: "not authorised (delegation token)",
    _E._SSL: "TLS failed: check *_KAFKA_SSL_* (CA, certificate, key and their passwords) and "
    "that the broker listener speaks TLS",
    _E._INVALID_ARG: "invalid configuration",
    _E.INVALID_CONFIG: "the broker rejected the configuration",
    _E.INVALID_REQUIRED_ACKS: "invalid required acks: use 0, 1 or -1 (*_KAFKA_REQUIRED_ACKS)",
    _E._UNKNOWN_PROTOCOL: "unknown security protocol: check *_KAFKA_SECURITY_PROTOCOL",
    _E.UNKNOWN_TOPIC_OR_PART: "the topic does not exist: create it, or check the topic name "
    "(*_KAFKA_TOPICS / *_KAFKA_TOPIC)",
    _E._UNKNOWN_TOPIC: "the topic does not exist: create it, or check the topic name "
    "(*_KAFKA_TOPICS / *_KAFKA_TOPIC)",
    _E.TOPIC_EXCEPTION: "invalid topic name",
    _E.INVALID_GROUP_ID: "invalid consumer group id: check *_KAFKA_GROUP_ID",
    _E.INCONSISTENT_GROUP_PROTOCOL: "the group's members use incompatible assignment strategies",
}

#: codes whose cause retrying cannot fix: authentication, authorisation, TLS,
#: configuration, a missing topic
TERMINAL_CODES: frozenset[int] = frozenset(_HINTS)

_TRANSIENT_HINTS: dict[int, str] = {
    _E._TRANSPORT: "the connection to a broker failed; librdkafka reconnects",
    _E._ALL_BROKERS_DOWN: "no broker is reachable; librdkafka keeps trying",
    _E._RESOLVE: "a broker name does not resolve; librdkafka keeps trying",
    _E._MAX_POLL_EXCEEDED: "the application took longer than max_poll_interval between two "
    "messages; the consumer left the group and rejoins",
}


#: hints for errors about one message
_MESSAGE_HINTS: dict[int, str] = {
    _E.MSG_SIZE_TOO_LARGE: "the message is larger than the producer's message.max.bytes "
    "(librdkafka's default 1000000) or the topic's max.message.bytes (the broker's default "
    "1048588): send smaller messages, or raise both limits (*_KAFKA_LIBRDKAFKA_CONFIG="
    "message.max.bytes=N, and max.message.bytes on the topic)",
    _E.INVALID_RECORD: "the broker refused the record: on a compacted topic "
    "(cleanup.policy=compact) every message needs a key; give it one, or send it to a "
    "topic that is not compacted",
    _E.INVALID_TIMESTAMP: "the message's timestamp is out of the range the topic accepts "
    "(message.timestamp.before.max.ms / message.timestamp.after.max.ms): send it with "
    "another timestamp, or widen the range on the topic",
}

#: codes of a delivery report that refuse one batch for good, for something in it (a
#: message too large, without a key on a compacted topic, a topic this producer may not
#: write to): librdkafka fails every message of the batch with it and goes on; the
#: producer sends them again one at a time to find the one refused alone
REFUSAL_CODES: frozenset[int] = frozenset({
    _E.MSG_SIZE_TOO_LARGE,
    _E.RECORD_LIST_TOO_LARGE,
    _E.INVALID_RECORD,
    _E.INVALID_TIMESTAMP,
    _E.TOPIC_AUTHORIZATION_FAILED,
})


def classify(err: Any, ignore: Collection[int] = ()) -> Severity:
    """Return how to treat the librdkafka error ``err``.

    ``ignore`` is the configured ignore list: its codes are never fatal unless
    librdkafka marks the error fatal itself; an empty list makes every error fatal.
    """
    if err.fatal():
        return Severity.FATAL
    code = err.code()
    if code in ignore:
        return Severity.IGNORED
    if code in TERMINAL_CODES or not ignore:
        return Severity.FATAL
    return Severity.TRANSIENT


def describe(err: Any) -> str:
    """Return the error text with its librdkafka name and, when known, what to check."""
    code = err.code()
    text = f"{err.str()} ({err.name()})"
    hint = _HINTS.get(code) or _TRANSIENT_HINTS.get(code) or _MESSAGE_HINTS.get(code)
    if err.fatal():
        hint = "librdkafka reports a fatal error; the client cannot continue"
    return f"{text}: {hint}" if hint else text


def log_transient(
    log: logging.Logger, kind: str, err: Any, severity: Severity, where: str = ""
) -> None:
    """Log an error that does not end the client (throttled).

    One WARNING per code and client kind every 10 s: an outage reports the same code
    several times a second. The line carries both as the fields ``client`` and ``code``.
    """
    cause = ("kafka-error", kind, err.code())
    fields = {"client": kind, "code": err.name()}  # the cause, for filters on the log
    if severity is Severity.IGNORED:
        THROTTLE.warning(
            log, cause, "Received transient error from Kafka. Ignoring.",
            extra={"error": f"{describe(err)}{where}", **fields},
        )
    else:
        THROTTLE.warning(log, cause, "Kafka reported: %s%s", describe(err), where, extra=fields)


def kafka_error(exc: BaseException) -> KafkaError | None:
    """Return the librdkafka error a ``KafkaException`` carries (``None``: it has none)."""
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        return exc.args[0]
    return None


def error_text(exc: BaseException) -> str:
    """Return what went wrong in ``exc``: :func:`describe` of its librdkafka error if any."""
    err = kafka_error(exc)
    return describe(err) if err is not None else str(exc)


def translated(exc: BaseException, doing: str) -> ClientError:
    """Return the error of our tree for ``exc``, raised by confluent_kafka while ``doing``.

    ``doing`` completes the sentence ("unable to compute the backlog"); raise the result
    ``from exc``. Every site that turns a confluent_kafka exception into one of ours goes
    through here (a produce refusal through the producer's own words, a configuration
    refusal through ``properties.config_error``).
    """
    return ClientError(f"{doing}: {error_text(exc)}")
