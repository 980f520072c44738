"""The Kafka client type's spec: its ports, config sections, variables, options, harness."""

from __future__ import annotations

from typing import Any

from streamprocessor.clients.kafka.config import (
    ACK_CHOICES,
    COMPRESSION_CHOICES,
    CONSUMER_IGNORE_ERRORS,
    OFFSET_CHOICES,
    PRODUCER_IGNORE_ERRORS,
    PROTOCOL_CHOICES,
    SASL_MECHANISM_CHOICES,
    KafkaConsumerConfig,
    KafkaDebug,
    KafkaProducerConfig,
    parse_debug_flags,
)
from streamprocessor.clients.spec import ClientSpec
from streamprocessor.config.variables import Variable, merge_dict

__all__ = ["SPEC", "VARIABLES"]


def _codes(codes: tuple[int, ...]) -> str:
    return ",".join(str(c) for c in codes)


def _add_flags(current: KafkaDebug, flags: Any) -> frozenset[str]:
    # a variable adds debug flags to those set in code, as the original's setter did
    added: frozenset[str] = current.flags() | flags
    return added


_V = Variable
_SSL = "a file in PEM format"  # wording shared by the SSL path rows

#: The Kafka rows of the variable table, in ``--help`` order.
VARIABLES: tuple[Variable, ...] = (
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
    _V("KAFKA_DEBUG", "kafka.debug", "both", "custom", "",
       "librdkafka debug contexts to log (adds to those set in code); all for every one.",
       parser=parse_debug_flags, merge=_add_flags,
       expected_text="a comma-separated list of debug flags such as cgrp,fetch, or all",
       type_label="comma-separated debug flags"),
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
       "Any other librdkafka properties, merged over those set in code.", secret=True,
       merge=merge_dict),
)  # fmt: skip

#: The Kafka client type.
SPEC = ClientSpec(
    name="kafka",
    summary="Apache Kafka through librdkafka (confluent-kafka): a consumer group member "
    "and a producer",
    consumer="streamprocessor.clients.kafka.consumer:KafkaConsumer",
    producer="streamprocessor.clients.kafka.producer:KafkaProducer",
    consumer_section=KafkaConsumerConfig,
    producer_section=KafkaProducerConfig,
    variables=VARIABLES,
    options="streamprocessor.clients.kafka.options",
    requires=("confluent_kafka",),
    install="pip install 'confluent-kafka>=2.13,<2.17' (a dependency of streamprocessor)",
    harness="streamprocessor.clients.kafka.harness:HARNESSES",
    test_marks=("kafka",),
    check="streamprocessor.clients.kafka._properties:check_config",
)
