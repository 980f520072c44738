"""THE table of environment variables: one row per variable, driving everything else.

Parsing (:mod:`.parsing`), loading (:mod:`.env`), error messages and the generated
``--help`` all read this table. A variable's full name is its prefix and its suffix:
``CONSUMER_KAFKA_GROUP_ID``, or ``HELLO_WORLD_CONSUMER_KAFKA_GROUP_ID`` for a consumer
named ``hello_world`` (the original's rule). Rows with a ``fallback`` are also
read under that bare legacy name when the prefixed one is absent.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from streamprocessor.config.durations import DURATION_EXAMPLE
from streamprocessor.config.kafka import (
    ACK_CHOICES,
    COMPRESSION_CHOICES,
    CONSUMER_IGNORE_ERRORS,
    OFFSET_CHOICES,
    PRODUCER_IGNORE_ERRORS,
    PROTOCOL_CHOICES,
    SASL_MECHANISM_CHOICES,
)

__all__ = ["VARIABLES", "ClientKind", "Variable", "VariableKind", "env_prefix", "variables_for"]

ClientKind = Literal["consumer", "producer"]
Applies = Literal["consumer", "producer", "both"]
VariableKind = Literal[
    "str", "int", "count", "positive-int", "bool", "duration", "str-list", "int-list",
    "enum", "debug", "optional-int", "kv-dict", "secret",
]  # fmt: skip

_EXPECTED: dict[str, str] = {
    "str": "UTF-8 text without a NUL",
    "secret": "UTF-8 text without a NUL",
    "int": "an integer such as 100, -1 or 0x1f",
    "count": "a whole number, 0 or more, such as 100 or 0x1f",
    "positive-int": "a whole number, 1 or more, such as 4 or 0x10",
    "optional-int": "an integer such as 100, -1 or 0x1f",
    "bool": "true or false (also 1/0, t/f, yes/no)",
    "duration": DURATION_EXAMPLE,
    "str-list": "a comma-separated list such as a,b,c",
    "int-list": "a comma-separated list of integers such as -195,5,7",
    "debug": "a comma-separated list of debug flags such as cgrp,fetch, or all",
    "kv-dict": "comma-separated key=value pairs such as linger.ms=5,fetch.wait.max.ms=10",
}
_TYPE_TEXT: dict[str, str] = {
    "str": "string",
    "secret": "string (secret)",
    "int": "integer",
    "count": "integer (0 or more)",
    "positive-int": "integer (1 or more)",
    "optional-int": "integer",
    "bool": "true or false",
    "duration": "duration",
    "str-list": "comma-separated list",
    "int-list": "comma-separated list of integers",
    "debug": "comma-separated debug flags",
    "kv-dict": "comma-separated key=value pairs",
}


@dataclass(frozen=True)
class Variable:
    """One environment variable: where it goes, how it is parsed, what it means."""

    suffix: str
    """The name after the prefix, e.g. ``KAFKA_GROUP_ID``."""
    field: str
    """The config field it sets, as a dotted path, e.g. ``kafka.group_id``."""
    applies: Applies
    """Which configs read it: ``consumer``, ``producer`` or ``both``."""
    kind: VariableKind
    """How its text is parsed (see :mod:`streamprocessor.config.parsing`)."""
    default_text: str
    """The default as a user would type it (``5s``, ``beginning``, ``a,b``); ``""``: none."""
    description: str
    """One line for ``--help``."""
    secret: bool = False
    """Its value is never shown (errors say ``<hidden>``)."""
    fallback: str | None = None
    """The original's unprefixed legacy name, read when the prefixed one is absent."""
    choices: Mapping[str, object] | None = dataclasses.field(
        default=None, compare=False, hash=False
    )
    """For ``enum``: accepted lower-case names (aliases included) → value stored."""

    def env_name(self, prefix: str) -> str:
        """Return the full variable name under ``prefix`` (see :func:`env_prefix`).

        An empty prefix gives the bare suffix (``KAFKA_BROKERS``), as the original's test
        helpers used it.
        """
        return f"{prefix}_{self.suffix}" if prefix else self.suffix

    def applies_to(self, kind: ClientKind) -> bool:
        """Tell whether a consumer or producer config reads this variable."""
        return self.applies in (kind, "both")

    @property
    def values(self) -> list[str]:
        """For ``enum``: the canonical accepted names, in order (aliases left out)."""
        return list(dict.fromkeys(str(v) for v in (self.choices or {}).values()))

    @property
    def aliases(self) -> list[str]:
        """For ``enum``: the other accepted names (``earliest``, ``all``, …)."""
        canonical = {v.lower() for v in self.values}
        return [k for k in (self.choices or {}) if k not in canonical]

    @property
    def expected(self) -> str:
        """The accepted form with an example, as error messages say it."""
        if self.kind == "enum":
            extra = f"; also {', '.join(self.aliases)}" if self.aliases else ""
            return f"one of {', '.join(self.values)} (any case{extra})"
        return _EXPECTED[self.kind]

    @property
    def type_text(self) -> str:
        """A short type for ``--help``: ``duration``, ``integer``, ``one of a, b``, …."""
        if self.kind == "enum":
            return "one of " + ", ".join(self.values)
        return _TYPE_TEXT[self.kind]


def env_prefix(kind: ClientKind, name: str = "") -> str:
    """Return the variable prefix: ``CONSUMER``, or ``HELLO_WORLD_CONSUMER`` for name hello_world.

    Upper-cased, nothing else changed (the original's rule; a name with a dash gives a
    prefix with a dash).
    """
    return (f"{name}_{kind}" if name else kind).upper()


def variables_for(kind: ClientKind) -> list[Variable]:
    """Return the variables a consumer or producer config reads, in table order."""
    return [v for v in VARIABLES if v.applies_to(kind)]


def _codes(codes: tuple[int, ...]) -> str:
    return ",".join(str(c) for c in codes)


_V = Variable
_SSL = "a file in PEM format"  # wording shared by the SSL path rows

#: Every variable, in the order ``--help`` lists them.
VARIABLES: tuple[Variable, ...] = (
    _V("CLIENT_TYPE", "type", "both", "str", "",
       "Client type: kafka, inmem or standardstream.", fallback="CLIENT_TYPE"),
    _V("SHUTDOWN_TIMEOUT", "shutdown_timeout", "both", "duration", "10s",
       "Time allowed to flush and commit after an interrupt before exiting with status 1."),
    _V("INMEM_CONSUME_ONCE", "inmem.consume_once", "consumer", "bool", "true",
       "Read the in-memory store once and stop (false: listen for new messages)."),
    _V("STANDARDSTREAM_MAX_LINE_SIZE", "standardstream.max_line_size", "consumer", "positive-int",
       "524288", "Longest accepted input line, in bytes."),
    _V("KAFKA_BATCH_MESSAGE_SIZE", "kafka.batch_message_size", "producer", "count", "10000",
       "Maximum number of messages batched in one request (batch.num.messages)."),
    _V("KAFKA_BROKERS", "kafka.brokers", "both", "str-list", "",
       "Kafka brokers as host:port, comma-separated."),
    _V("KAFKA_CONNECT_TIMEOUT", "kafka.connect_timeout", "both", "duration", "30s",
       "How long a new client waits for the brokers before failing (0s: do not wait)."),
    _V("KAFKA_COMMIT_INTERVAL", "kafka.commit_interval", "consumer", "duration", "5s",
       "How often acknowledged offsets are committed."),
    _V("KAFKA_COMPRESSION_CODEC", "kafka.compression_codec", "producer", "enum", "lz4",
       "Compression of produced messages.", choices=COMPRESSION_CHOICES),
    _V("KAFKA_DEBUG", "kafka.debug", "both", "debug", "",
       "librdkafka debug contexts to log (adds to those set in code); all for every one."),
    _V("KAFKA_GROUP_ID", "kafka.group_id", "consumer", "str", "",
       "Consumer group id."),
    _V("KAFKA_HEARTBEAT_INTERVAL", "kafka.heartbeat_interval", "both", "duration", "1s",
       "Interval of consumer group heartbeats."),
    _V("KAFKA_CLIENT_ID", "kafka.id", "both", "str", "",
       "Client id sent to the brokers (client.id).", fallback="CLIENT_ID"),
    _V("KAFKA_IGNOREERRORS", "kafka.ignore_errors", "consumer", "int-list",
       _codes(CONSUMER_IGNORE_ERRORS),
       "librdkafka error codes treated as transient (logged, not raised)."),
    _V("KAFKA_IGNOREERRORS", "kafka.ignore_errors", "producer", "int-list",
       _codes(PRODUCER_IGNORE_ERRORS),
       "librdkafka error codes treated as transient (logged, not raised)."),
    _V("KAFKA_MAX_DELIVERY_RETRIES", "kafka.max_delivery_retries", "producer", "count", "5",
       "How often a failed delivery is retried (message.send.max.retries)."),
    _V("KAFKA_MAX_IN_FLIGHT_REQUESTS", "kafka.max_in_flight_requests", "both", "count",
       "1000000", "Maximum unacknowledged requests per broker connection."),
    _V("KAFKA_MAX_POLL_INTERVAL", "kafka.max_poll_interval", "consumer", "duration", "0s",
       "Longest time between two reads before leaving the group (0s: librdkafka's default)."),
    _V("KAFKA_MAX_QUEUE_BUFFER_DURATION", "kafka.max_queue_buffer_duration", "producer",
       "duration", "500ms", "How long messages wait to fill a batch (queue.buffering.max.ms)."),
    _V("KAFKA_MAX_QUEUE_SIZE_KBYTES", "kafka.max_queue_size_kbytes", "producer", "count",
       "2097151", "Producer queue size in kilobytes.", fallback="MAX_QUEUE_SIZE_KBYTES"),
    _V("KAFKA_MAX_QUEUE_SIZE_MESSAGES", "kafka.max_queue_size_messages", "producer", "count",
       "1000000", "Producer queue size in messages."),
    _V("KAFKA_OFFSET_DEFAULT", "kafka.offset_default", "consumer", "optional-int", "",
       "Start offset for partitions: n from the start, -n from the end (unset: committed)."),
    _V("KAFKA_OFFSET_INITIAL", "kafka.offset_initial", "consumer", "enum", "beginning",
       "Where a group without committed offsets starts.", choices=OFFSET_CHOICES),
    _V("KAFKA_REQUIRED_ACKS", "kafka.required_acks", "producer", "enum", "all",
       "Broker acknowledgements a delivery needs: all (-1), leader (1) or none (0).",
       choices=ACK_CHOICES),
    _V("KAFKA_RETRY_BACKOFF", "kafka.retry_backoff", "producer", "duration", "100ms",
       "Wait before retrying a failed request; doubled on each retry up to 1s, or up to "
       "this value when longer (the original's default was 15s)."),
    _V("KAFKA_SECURITY_PROTOCOL", "kafka.security_protocol", "both", "enum", "plaintext",
       "Protocol used to talk to the brokers.", choices=PROTOCOL_CHOICES),
    _V("KAFKA_SESSION_TIMEOUT", "kafka.session_timeout", "both", "duration", "30s",
       "Consumer group session timeout."),
    _V("KAFKA_SSL_CA_PATH", "kafka.ssl.ca_path", "both", "str", "",
       f"CA certificate to verify the brokers, {_SSL}.", fallback="CA_PATH"),
    _V("KAFKA_SSL_CERT_PATH", "kafka.ssl.cert_path", "both", "str", "",
       f"Client certificate, {_SSL}.", fallback="CERT_PATH"),
    _V("KAFKA_SSL_CRL_PATH", "kafka.ssl.crl_path", "both", "str", "",
       "Certificate revocation list.", fallback="CRL_PATH"),
    _V("KAFKA_SSL_KEY_PASSWORD", "kafka.ssl.key_password", "both", "secret", "",
       "Password of the client key.", secret=True),
    _V("KAFKA_SSL_KEY_PATH", "kafka.ssl.key_path", "both", "str", "",
       f"Client private key, {_SSL}."),
    _V("KAFKA_SSL_KEYSTORE_PASSWORD", "kafka.ssl.keystore_password", "both", "secret", "",
       "Password of the PKCS#12 keystore.", secret=True),
    _V("KAFKA_SSL_KEYSTORE_PATH", "kafka.ssl.keystore_path", "both", "str", "",
       "Client keystore (PKCS#12)."),
    _V("KAFKA_SASL_MECHANISM", "kafka.sasl.mechanism", "both", "enum", "",
       "SASL mechanism.", choices=SASL_MECHANISM_CHOICES),
    _V("KAFKA_SASL_USERNAME", "kafka.sasl.username", "both", "str", "",
       "SASL user name."),
    _V("KAFKA_SASL_PASSWORD", "kafka.sasl.password", "both", "secret", "",
       "SASL password.", secret=True),
    _V("KAFKA_STATISTICS_INTERVAL", "kafka.statistics_interval", "both", "duration", "15m",
       "How often librdkafka statistics are emitted (0s: never)."),
    _V("KAFKA_TOPICS", "kafka.topics", "consumer", "str-list", "",
       "Topics to consume, comma-separated."),
    _V("KAFKA_TOPIC", "kafka.topic", "producer", "str", "",
       "Topic to produce to when a message names none."),
    _V("KAFKA_LIBRDKAFKA_CONFIG", "kafka.librdkafka_config", "both", "kv-dict", "",
       "Any other librdkafka properties, merged over those set in code.", secret=True),
)  # fmt: skip
