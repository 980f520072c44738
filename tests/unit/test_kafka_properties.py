"""The Kafka config section → librdkafka properties (SPEC §8.3, librdkafka 2.x)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from streamprocessor import options
from streamprocessor.clients.kafka._properties import (
    config_error,
    connect_timeout,
    consumer_properties,
    producer_properties,
    redacted,
)
from streamprocessor.config import new_consumer_config, new_producer_config
from streamprocessor.stream.errors import ConfigError

STATIC_CONSUMER = {
    "enable.auto.commit": True,
    "enable.auto.offset.store": False,
    "enable.partition.eof": False,
    "fetch.queue.backoff.ms": 50,
}


def consumer(*opts: Any) -> Any:
    return new_consumer_config(
        options.kafka_broker("b:9092"),
        options.kafka_topic("t"),
        options.kafka_group_id("g"),
        *opts,
        environ={},
    )


def producer(*opts: Any) -> Any:
    return new_producer_config(
        options.kafka_broker("b:9092"), options.kafka_topic("t"), *opts, environ={}
    )


def test_default_consumer_maps_like_the_original() -> None:
    assert consumer_properties(consumer()) == {
        "bootstrap.servers": "b:9092",
        "group.id": "g",
        "auto.commit.interval.ms": 5000,
        "heartbeat.interval.ms": 1000,
        "session.timeout.ms": 30000,
        "max.in.flight.requests.per.connection": 1_000_000,
        "auto.offset.reset": "beginning",
        "security.protocol": "plaintext",
        "statistics.interval.ms": 900000,
        **STATIC_CONSUMER,
    }


def test_default_producer_is_idempotent_with_at_most_5_in_flight() -> None:
    assert producer_properties(producer()) == {
        "bootstrap.servers": "b:9092",
        "batch.num.messages": 10000,
        "compression.codec": "lz4",
        "message.send.max.retries": 5,
        "max.in.flight.requests.per.connection": 5,
        "queue.buffering.max.ms": 500,
        "queue.buffering.max.kbytes": 2097151,
        "queue.buffering.max.messages": 1000000,
        "request.required.acks": -1,
        "retry.backoff.ms": 100,
        "retry.backoff.max.ms": 1000,
        "security.protocol": "plaintext",
        "statistics.interval.ms": 900000,
        "enable.idempotence": True,
    }


def test_producer_gets_no_consumer_only_properties() -> None:
    props = producer_properties(producer())
    assert "heartbeat.interval.ms" not in props
    assert "session.timeout.ms" not in props


def test_retry_backoff_sets_both_keys_so_it_is_not_capped() -> None:
    props = producer_properties(producer(options.kafka_retry_backoff("300ms")))
    assert props["retry.backoff.ms"] == 300
    assert props["retry.backoff.max.ms"] == 1000
    props = producer_properties(producer(options.kafka_retry_backoff("20s")))
    assert (props["retry.backoff.ms"], props["retry.backoff.max.ms"]) == (20000, 20000)


def test_leader_ack_producer_keeps_in_flight_and_backpressure_threshold() -> None:
    props = producer_properties(producer(options.kafka_require_leader_ack()))
    assert props["request.required.acks"] == 1
    assert "enable.idempotence" not in props
    assert props["max.in.flight.requests.per.connection"] == 1_000_000
    assert props["queue.buffering.backpressure.threshold"] == 10


def test_ordered_delivery_and_no_ack_map() -> None:
    props = producer_properties(
        producer(options.kafka_ordered_delivery(), options.kafka_require_no_ack())
    )
    assert props["max.in.flight.requests.per.connection"] == 1
    assert props["request.required.acks"] == 0


def test_idempotence_can_be_turned_off_through_the_passthrough() -> None:
    props = producer_properties(
        producer(options.kafka_librdkafka_config({"enable.idempotence": "false"}))
    )
    assert props["enable.idempotence"] == "false"
    assert props["max.in.flight.requests.per.connection"] == 1_000_000


def test_no_retries_means_no_idempotence() -> None:
    props = producer_properties(producer(options.kafka_max_delivery_retries(0)))
    assert "enable.idempotence" not in props
    assert props["message.send.max.retries"] == 0


def test_compression_queue_and_batch_options_map() -> None:
    props = producer_properties(
        producer(
            options.kafka_compression_codec("zstd"),
            options.kafka_max_queue_buffer_duration("5ms"),
            options.kafka_max_queue_size_kbytes(10),
            options.kafka_max_queue_size_messages(20),
            options.producer_options(lambda c: setattr(c.kafka, "batch_message_size", 7)),
        )
    )
    assert props["compression.codec"] == "zstd"
    assert props["queue.buffering.max.ms"] == 5
    assert props["queue.buffering.max.kbytes"] == 10
    assert props["queue.buffering.max.messages"] == 20
    assert props["batch.num.messages"] == 7


def test_consumer_options_map() -> None:
    props = consumer_properties(
        consumer(
            options.kafka_commit_interval("1s"),
            options.kafka_heartbeat_interval("150ms"),
            options.kafka_session_timeout("6s"),
            options.kafka_max_poll_interval("10m"),
            options.kafka_offset_initial("end"),
            options.kafka_id("me"),
            options.kafka_statistics_interval("0s"),
            options.kafka_max_in_flight_requests(9),
        )
    )
    assert props["auto.commit.interval.ms"] == 1000
    assert props["heartbeat.interval.ms"] == 150
    assert props["session.timeout.ms"] == 6000
    assert props["max.poll.interval.ms"] == 600000
    assert props["auto.offset.reset"] == "end"
    assert props["client.id"] == "me"
    assert props["statistics.interval.ms"] == 0
    assert props["max.in.flight.requests.per.connection"] == 9


def test_debug_maps_to_librdkafka_string() -> None:
    props = consumer_properties(
        consumer(options.consumer_options(lambda c: setattr(c.kafka, "debug", "fetch,cgrp")))
    )
    assert props["debug"] == "cgrp,fetch"
    assert consumer_properties(consumer(options.kafka_debug()))["debug"] == "all"


def test_ssl_fields_map_with_their_secrets() -> None:
    props = consumer_properties(
        consumer(
            options.kafka_security_protocol("SSL"),
            options.kafka_ssl("/ca", "/cert", "/crl", "kpw", "/key", "spw", "/store"),
        )
    )
    assert props["security.protocol"] == "ssl"
    assert props["ssl.ca.location"] == "/ca"
    assert props["ssl.certificate.location"] == "/cert"
    assert props["ssl.crl.location"] == "/crl"
    assert props["ssl.key.password"] == "kpw"
    assert props["ssl.key.location"] == "/key"
    assert props["ssl.keystore.password"] == "spw"
    assert props["ssl.keystore.location"] == "/store"


def test_sasl_maps_when_the_protocol_is_a_sasl_one() -> None:
    props = producer_properties(
        producer(
            options.kafka_security_protocol("sasl_ssl"),
            options.kafka_sasl("scram-sha-256", "user", "pw"),
        )
    )
    assert props["sasl.mechanism"] == "SCRAM-SHA-256"
    assert props["sasl.username"] == "user"
    assert props["sasl.password"] == "pw"


def test_sasl_with_plaintext_protocol_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match=r"sasl_ssl or sasl_plaintext.*PRODUCER_KAFKA_SECURITY"):
        producer_properties(producer(options.kafka_sasl("plain", "u", "p")))


def test_passthrough_is_applied_last() -> None:
    props = consumer_properties(
        consumer(
            options.kafka_librdkafka_config(
                {"fetch.wait.max.ms": "10", "auto.commit.interval.ms": "100"}
            )
        )
    )
    assert props["fetch.wait.max.ms"] == "10"
    assert props["auto.commit.interval.ms"] == "100"


@pytest.mark.parametrize(
    "key", ["enable.auto.offset.store", "enable.auto.commit", "enable.partition.eof"]
)
def test_passthrough_cannot_break_the_consumers_guarantees(key: str) -> None:
    cfg = consumer(options.kafka_librdkafka_config({key: "true"}))
    with pytest.raises(ConfigError, match=f"{key}.*CONSUMER_KAFKA_LIBRDKAFKA_CONFIG"):
        consumer_properties(cfg)


def test_passthrough_cannot_turn_off_delivery_reports() -> None:
    cfg = producer(options.kafka_librdkafka_config({"delivery.report.only.error": "true"}))
    with pytest.raises(ConfigError, match="every delivery report is needed"):
        producer_properties(cfg)


@pytest.mark.parametrize(
    ("opts", "message"),
    [
        ((), "kafka.brokers is empty: set CONSUMER_KAFKA_BROKERS"),
        ((options.kafka_broker("b:1"),), "kafka.topics is empty: set CONSUMER_KAFKA_TOPICS"),
        (
            (options.kafka_broker("b:1"), options.kafka_topic("t")),
            "kafka.group_id is missing: set CONSUMER_KAFKA_GROUP_ID",
        ),
    ],
)
def test_missing_consumer_settings_name_the_variable(opts: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        consumer_properties(new_consumer_config(*opts, environ={}))


def test_missing_producer_topic_names_the_variable_of_a_named_client() -> None:
    cfg = new_producer_config(options.name("out"), options.kafka_broker("b:1"), environ={})
    with pytest.raises(ConfigError, match="OUT_PRODUCER_KAFKA_TOPIC"):
        producer_properties(cfg)


@pytest.mark.parametrize("topic", ["bad name", "t\u00e9", ".", "x" * 250, "a/b"])
def test_a_producer_topic_kafka_refuses_is_a_config_error_naming_the_variable(
    topic: str,
) -> None:
    cfg = new_producer_config(
        options.name("out"), options.kafka_broker("b:1"), options.kafka_topic(topic),
        environ={},
    )
    with pytest.raises(ConfigError, match=r"OUT_PRODUCER_KAFKA_TOPIC.*not a valid Kafka topic"):
        producer_properties(cfg)


def test_valid_topic_names_pass() -> None:
    for topic in ("orders", "orders.v2", "a-b_c", "x" * 249):
        producer_properties(producer(options.kafka_topic(topic)))


def test_redacted_hides_secrets_only() -> None:
    out = redacted({"ssl.key.password": "x", "sasl.password": "y", "client.id": "c"})
    assert out == {"ssl.key.password": "**********", "sasl.password": "**********",
                   "client.id": "c"}  # fmt: skip


def test_librdkafka_refusal_names_the_field_and_variable() -> None:
    exc = KafkaException(
        KafkaError(
            KafkaError._INVALID_ARG,
            'Invalid value "9999999" for configuration property "retry.backoff.ms"',
        )
    )
    err = config_error(exc, producer(), "producer")
    assert "kafka.retry_backoff" in str(err)
    assert "PRODUCER_KAFKA_RETRY_BACKOFF" in str(err)


def test_librdkafka_refusal_of_a_passthrough_key_names_the_passthrough() -> None:
    cfg = consumer(options.kafka_librdkafka_config({"no.such.thing": "1"}))
    exc = KafkaException(
        KafkaError(KafkaError._INVALID_ARG, 'No such configuration property: "no.such.thing"')
    )
    assert "CONSUMER_KAFKA_LIBRDKAFKA_CONFIG" in str(config_error(exc, cfg, "consumer"))


def test_connect_timeout_defaults_to_30s_and_follows_the_option() -> None:
    assert connect_timeout(consumer()) == 30.0
    assert connect_timeout(consumer(options.kafka_connect_timeout(timedelta(seconds=2)))) == 2.0


def test_the_fetch_batch_follows_the_garbage_collectors_threshold() -> None:
    import gc

    from streamprocessor.clients.kafka.consumer import batch_size

    before = gc.get_threshold()
    try:
        gc.set_threshold(700, *before[1:])
        assert batch_size() == 300  # records + messages stay under one young collection
        gc.set_threshold(20_000, *before[1:])
        assert batch_size() == 1000  # (the runner's threshold): the largest batch
        gc.set_threshold(100, *before[1:])
        assert batch_size() == 50
    finally:
        gc.set_threshold(*before)
