"""The Kafka client type's options: ``options.kafka_topic(...)`` and the rest of Go's ``Kafka*``.

They are reached as ``streamprocessor.options.kafka_…`` too. See
:mod:`streamprocessor.options` for what an option is.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from pydantic import SecretStr

from streamprocessor.config.build import Option
from streamprocessor.config.models import ConsumerConfig, ProducerConfig
from streamprocessor.config.optionkit import Duration, checked, fixed, invalid, make, setter

__all__ = [
    "kafka_broker",
    "kafka_commit_interval",
    "kafka_compression_codec",
    "kafka_connect_timeout",
    "kafka_debug",
    "kafka_group_id",
    "kafka_group_id_random",
    "kafka_handle_transient_errors",
    "kafka_heartbeat_interval",
    "kafka_id",
    "kafka_librdkafka_config",
    "kafka_max_delivery_retries",
    "kafka_max_in_flight_requests",
    "kafka_max_poll_interval",
    "kafka_max_queue_buffer_duration",
    "kafka_max_queue_size_kbytes",
    "kafka_max_queue_size_messages",
    "kafka_offset_head",
    "kafka_offset_initial",
    "kafka_offset_tail",
    "kafka_ordered_delivery",
    "kafka_require_all_ack",
    "kafka_require_leader_ack",
    "kafka_require_no_ack",
    "kafka_retry_backoff",
    "kafka_sasl",
    "kafka_security_protocol",
    "kafka_session_timeout",
    "kafka_ssl",
    "kafka_statistics_interval",
    "kafka_topic",
]

_UINT32_MAX = 4_294_967_295
Config = ConsumerConfig | ProducerConfig


# -- kafka: both sides --------------------------------------------------------------------


def kafka_broker(s: str) -> Option:
    """Add the broker ``s`` (``host:port``) to the list (Go ``KafkaBroker``).

    Environment: ``*_KAFKA_BROKERS`` (a comma list, which replaces the whole list).
    """
    [value] = checked("both", "kafka_broker", "kafka.brokers", [s], repr(s))

    def apply(c: Config) -> None:
        c.kafka.brokers = [*c.kafka.brokers, value]

    return make("both", f"kafka_broker({value!r})", apply)


def kafka_connect_timeout(d: Duration) -> Option:
    """Fail a new client that cannot reach the brokers within ``d`` (not in Go; default 30s).

    ``0s`` skips the wait (the original's behaviour: retry silently forever).
    Environment: ``*_KAFKA_CONNECT_TIMEOUT``.
    """
    return setter("both", "kafka_connect_timeout", "kafka.connect_timeout", d)


def kafka_debug() -> Option:
    """Enable every librdkafka debug context (Go ``KafkaDebug``). Environment: ``*_KAFKA_DEBUG``."""
    return fixed("both", "kafka_debug", "kafka.debug.all", True)


def kafka_handle_transient_errors() -> Option:
    """Treat no error as transient: every error is raised (Go ``KafkaHandleTransientErrors``).

    Environment: ``*_KAFKA_IGNOREERRORS`` sets the list of transient codes.
    """
    return fixed("both", "kafka_handle_transient_errors", "kafka.ignore_errors", [])


def kafka_heartbeat_interval(d: Duration) -> Option:
    """Send group heartbeats every ``d`` (Go ``KafkaHeartbeatInterval``).

    Environment: ``*_KAFKA_HEARTBEAT_INTERVAL``.
    """
    return setter("both", "kafka_heartbeat_interval", "kafka.heartbeat_interval", d)


def kafka_id(s: str) -> Option:
    """Set the client id sent to brokers (Go ``KafkaID``). Environment: ``*_KAFKA_CLIENT_ID``."""
    return setter("both", "kafka_id", "kafka.id", s)


def kafka_max_in_flight_requests(i: int) -> Option:
    """Allow ``i`` unacknowledged requests per connection (Go ``KafkaMaxInFlightRequests``).

    Environment: ``*_KAFKA_MAX_IN_FLIGHT_REQUESTS``.
    """
    return setter("both", "kafka_max_in_flight_requests", "kafka.max_in_flight_requests", i)


def kafka_security_protocol(p: str) -> Option:
    """Talk to brokers over ``p``: plaintext, ssl, sasl_plaintext or sasl_ssl.

    Go ``KafkaSecurityProtocol``. Environment: ``*_KAFKA_SECURITY_PROTOCOL``.
    """
    return setter("both", "kafka_security_protocol", "kafka.security_protocol", p)


def kafka_session_timeout(d: Duration) -> Option:
    """Set the group session timeout (Go ``KafkaSessionTimeout``).

    Environment: ``*_KAFKA_SESSION_TIMEOUT``.
    """
    return setter("both", "kafka_session_timeout", "kafka.session_timeout", d)


def kafka_statistics_interval(d: Duration) -> Option:
    """Emit librdkafka statistics every ``d``; 0 never (Go ``KafkaStatisticsInterval``).

    Environment: ``*_KAFKA_STATISTICS_INTERVAL``.
    """
    return setter("both", "kafka_statistics_interval", "kafka.statistics_interval", d)


def kafka_ssl(
    ca_path: str = "",
    cert_path: str = "",
    crl_path: str = "",
    key_password: str | SecretStr = "",
    key_path: str = "",
    keystore_password: str | SecretStr = "",
    keystore_path: str = "",
) -> Option:
    """Set all seven TLS settings at once, in the original's order (Go ``KafkaSSL``).

    Environment: ``*_KAFKA_SSL_CA_PATH``, ``…_CERT_PATH``, ``…_CRL_PATH``,
    ``…_KEY_PASSWORD``, ``…_KEY_PATH``, ``…_KEYSTORE_PASSWORD``, ``…_KEYSTORE_PATH``.
    """
    ssl = {
        "ca_path": ca_path, "cert_path": cert_path, "crl_path": crl_path,
        "key_password": key_password, "key_path": key_path,
        "keystore_password": keystore_password, "keystore_path": keystore_path,
    }  # fmt: skip
    text = f"kafka_ssl({ca_path!r}, …)"
    return setter("both", "kafka_ssl", "kafka.ssl", ssl, shown="<hidden>", text=text)


def kafka_sasl(mechanism: str, username: str, password: str | SecretStr) -> Option:
    """Authenticate with SASL (not in Go): PLAIN, SCRAM-SHA-256/512, OAUTHBEARER, GSSAPI.

    Environment: ``*_KAFKA_SASL_MECHANISM``, ``…_USERNAME``, ``…_PASSWORD``.
    """
    mechanism = checked("both", "kafka_sasl", "kafka.sasl.mechanism", mechanism)
    sasl = {"mechanism": mechanism, "username": username, "password": password}
    text = f"kafka_sasl({mechanism!r}, {username!r}, <hidden>)"
    return setter("both", "kafka_sasl", "kafka.sasl", sasl, shown="<hidden>", text=text)


def kafka_librdkafka_config(properties: Mapping[str, Any]) -> Option:
    """Merge any librdkafka properties into the config (not in Go); later ones win.

    Environment: ``*_KAFKA_LIBRDKAFKA_CONFIG`` as ``key=value,key=value``.
    """
    field = "kafka.librdkafka_config"
    props = checked("both", "kafka_librdkafka_config", field, properties, "<hidden>")

    def apply(c: Config) -> None:
        c.kafka.librdkafka_config = {**c.kafka.librdkafka_config, **props}

    return make("both", f"kafka_librdkafka_config({sorted(props)})", apply)


def kafka_topic(s: str) -> Option:
    """Consumers: add ``s`` to the topics; producers: produce to ``s`` (Go ``KafkaTopic``).

    Environment: ``*_KAFKA_TOPICS`` (consumer, a comma list), ``*_KAFKA_TOPIC`` (producer).
    """
    [value] = checked("consumer", "kafka_topic", "kafka.topics", [s], repr(s))

    def apply(c: Config) -> None:
        if isinstance(c, ConsumerConfig):
            c.kafka.topics = [*c.kafka.topics, value]
        else:
            c.kafka.topic = value

    return make("both", f"kafka_topic({value!r})", apply)


# -- kafka: consumer only -----------------------------------------------------------------


def kafka_commit_interval(d: Duration) -> Option:
    """Commit acknowledged offsets every ``d`` (Go ``KafkaCommitInterval``; consumer).

    Environment: ``*_KAFKA_COMMIT_INTERVAL``.
    """
    return setter("consumer", "kafka_commit_interval", "kafka.commit_interval", d)


def kafka_group_id(s: str) -> Option:
    """Join the consumer group ``s`` (Go ``KafkaGroupID``). Environment: ``*_KAFKA_GROUP_ID``."""
    return setter("consumer", "kafka_group_id", "kafka.group_id", s)


def kafka_group_id_random() -> Option:
    """Join a new group ``processor-<uuid4>``, drawn when applied (Go ``KafkaGroupIDRandom``)."""

    def apply(c: ConsumerConfig) -> None:
        c.kafka.group_id = f"processor-{uuid.uuid4()}"

    return make("consumer", "kafka_group_id_random()", apply)


def kafka_max_poll_interval(d: Duration) -> Option:
    """Leave the group when not reading for ``d`` (Go ``KafkaMaxPollInterval``; consumer).

    Environment: ``*_KAFKA_MAX_POLL_INTERVAL``.
    """
    return setter("consumer", "kafka_max_poll_interval", "kafka.max_poll_interval", d)


def _offset_count(option: str, n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= _UINT32_MAX:
        raise invalid(option, repr(n), f"expected an integer from 0 to {_UINT32_MAX}")
    return n


def kafka_offset_head(n: int) -> Option:
    """Start every partition at offset ``n`` (0 ≤ n ≤ 4294967295; Go ``KafkaOffsetHead``).

    Environment: ``*_KAFKA_OFFSET_DEFAULT=n``.
    """
    value = _offset_count("kafka_offset_head", n)
    return setter("consumer", "kafka_offset_head", "kafka.offset_default", value)


def kafka_offset_tail(n: int) -> Option:
    """Start every partition ``n`` messages before its end (Go ``KafkaOffsetTail``).

    Environment: ``*_KAFKA_OFFSET_DEFAULT=-n``.
    """
    value = -_offset_count("kafka_offset_tail", n)
    return setter(
        "consumer",
        "kafka_offset_tail",
        "kafka.offset_default",
        value,
        text=f"kafka_offset_tail({n})",
    )


def kafka_offset_initial(o: str) -> Option:
    """Start a new group at ``beginning`` or ``end`` (Go ``KafkaOffsetInitial``).

    ``earliest``/``smallest`` and ``latest``/``largest`` work too.
    Environment: ``*_KAFKA_OFFSET_INITIAL``.
    """
    return setter("consumer", "kafka_offset_initial", "kafka.offset_initial", o)


# -- kafka: producer only -----------------------------------------------------------------


def kafka_compression_codec(c: str) -> Option:
    """Compress with ``c``: none, gzip, snappy, lz4 or zstd (Go ``KafkaCompressionCodec``).

    Environment: ``*_KAFKA_COMPRESSION_CODEC``.
    """
    return setter("producer", "kafka_compression_codec", "kafka.compression_codec", c)


def kafka_max_delivery_retries(i: int) -> Option:
    """Retry a failed delivery ``i`` times (Go ``KafkaMaxDeliveryRetries``).

    Environment: ``*_KAFKA_MAX_DELIVERY_RETRIES``.
    """
    return setter("producer", "kafka_max_delivery_retries", "kafka.max_delivery_retries", i)


def kafka_max_queue_buffer_duration(d: Duration) -> Option:
    """Let messages wait up to ``d`` to fill a batch (Go ``KafkaMaxQueueBufferDuration``).

    Environment: ``*_KAFKA_MAX_QUEUE_BUFFER_DURATION``.
    """
    field = "kafka.max_queue_buffer_duration"
    return setter("producer", "kafka_max_queue_buffer_duration", field, d)


def kafka_max_queue_size_kbytes(i: int) -> Option:
    """Bound the send queue to ``i`` kilobytes (Go ``KafkaMaxQueueSizeKBytes``).

    Environment: ``*_KAFKA_MAX_QUEUE_SIZE_KBYTES``.
    """
    return setter("producer", "kafka_max_queue_size_kbytes", "kafka.max_queue_size_kbytes", i)


def kafka_max_queue_size_messages(i: int) -> Option:
    """Bound the send queue to ``i`` messages (Go ``KafkaMaxQueueSizeMessages``).

    Environment: ``*_KAFKA_MAX_QUEUE_SIZE_MESSAGES``.
    """
    field = "kafka.max_queue_size_messages"
    return setter("producer", "kafka_max_queue_size_messages", field, i)


def kafka_ordered_delivery() -> Option:
    """Allow one request in flight, keeping order on retries (Go ``KafkaOrderedDelivery``).

    Environment: ``*_KAFKA_MAX_IN_FLIGHT_REQUESTS=1``.
    """
    return fixed("producer", "kafka_ordered_delivery", "kafka.max_in_flight_requests", 1)


def kafka_require_no_ack() -> Option:
    """Count a message delivered once sent (Go ``KafkaRequireNoAck``).

    Environment: ``*_KAFKA_REQUIRED_ACKS=0``.
    """
    return fixed("producer", "kafka_require_no_ack", "kafka.required_acks", 0)


def kafka_require_leader_ack() -> Option:
    """Count a message delivered once the leader has it (Go ``KafkaRequireLeaderAck``).

    Environment: ``*_KAFKA_REQUIRED_ACKS=1``.
    """
    return fixed("producer", "kafka_require_leader_ack", "kafka.required_acks", 1)


def kafka_require_all_ack() -> Option:
    """Count a message delivered once all in-sync replicas have it; the default.

    Go ``KafkaRequireAllAck``. Environment: ``*_KAFKA_REQUIRED_ACKS=-1``.
    """
    return fixed("producer", "kafka_require_all_ack", "kafka.required_acks", -1)


def kafka_retry_backoff(d: Duration) -> Option:
    """Wait ``d`` before retrying a failed request (Go ``KafkaRetryBackoff``).

    Environment: ``*_KAFKA_RETRY_BACKOFF``.
    """
    return setter("producer", "kafka_retry_backoff", "kafka.retry_backoff", d)
