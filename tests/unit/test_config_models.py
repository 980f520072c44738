"""The config models: defaults of the original, validation on assignment, no secret shown."""

from __future__ import annotations

import io
import json
import logging
from datetime import timedelta

import pytest
from pydantic import SecretStr, ValidationError

from streamprocessor.config import (
    ClientConfig,
    Compression,
    ConfigError,
    ConsumerConfig,
    KafkaDebug,
    Offset,
    ProducerConfig,
    Protocol,
    new_consumer_config,
    new_producer_config,
    redacted_dict,
    validate_config,
)
from streamprocessor.stores import InmemStore, default_store

CONSUMER_CODES = [-195, -187, -197, -196, -193, 5, 6, 7, 8, 9, 13, 19, 20, 25, -147]


@pytest.fixture(autouse=True)
def _own_env(stream_env: pytest.MonkeyPatch) -> None:
    """Clear CONSUMER_*, PRODUCER_*, *_CONSUMER_*, *_PRODUCER_*, DRY_RUN and the fallbacks."""


def test_global_defaults() -> None:
    for config in (new_consumer_config(), new_producer_config()):
        assert config.name == ""
        assert config.type == ""
        assert config.allow_environment_based_configuration is True
        assert config.handle_errors is True
        assert config.handle_interrupt is True
        assert config.logger is logging.getLogger("streamprocessor")
        assert config.shutdown_timeout == timedelta(seconds=10)
        assert config.inmem.store is default_store()


def test_consumer_section_defaults_match_the_original() -> None:
    c = new_consumer_config()
    assert c.inmem.consume_once is True
    assert c.standardstream.reader is None
    assert c.standardstream.max_line_size == 524288
    k = c.kafka
    assert k.brokers == []
    assert k.commit_interval == timedelta(seconds=5)
    assert k.debug == KafkaDebug()
    assert k.debug.to_librdkafka() == ""
    assert k.group_id == ""
    assert k.heartbeat_interval == timedelta(seconds=1)
    assert k.id == ""
    assert k.ignore_errors == CONSUMER_CODES
    assert k.max_in_flight_requests == 1_000_000
    assert k.max_poll_interval == timedelta(0)
    assert k.offset_default is None
    assert k.offset_initial is Offset.BEGINNING
    assert k.security_protocol is Protocol.PLAINTEXT
    assert k.session_timeout == timedelta(seconds=30)
    assert k.statistics_interval == timedelta(minutes=15)
    assert k.topics == []
    assert k.ssl.ca_path == k.ssl.cert_path == k.ssl.crl_path == ""
    assert k.ssl.key_path == k.ssl.keystore_path == ""
    assert k.ssl.key_password.get_secret_value() == ""
    assert k.ssl.keystore_password.get_secret_value() == ""
    assert (k.sasl.mechanism, k.sasl.username, k.sasl.password.get_secret_value()) == ("", "", "")
    assert k.librdkafka_config == {}


def test_producer_section_defaults_match_the_original() -> None:
    p = new_producer_config()
    assert p.standardstream.writer is None
    k = p.kafka
    assert k.batch_message_size == 10_000
    assert k.brokers == []
    assert k.compression_codec is Compression.LZ4
    assert k.debug.flags() == frozenset()
    assert k.heartbeat_interval == timedelta(seconds=1)
    assert k.id == ""
    assert k.ignore_errors == CONSUMER_CODES[:-1]
    assert k.max_delivery_retries == 5
    assert k.max_in_flight_requests == 1_000_000
    assert k.max_queue_buffer_duration == timedelta(milliseconds=500)
    assert k.max_queue_size_kbytes == 2_097_151
    assert k.max_queue_size_messages == 1_000_000
    assert k.required_acks == -1
    assert k.retry_backoff == timedelta(milliseconds=100)  # the original: 15s (README)
    assert k.security_protocol is Protocol.PLAINTEXT
    assert k.session_timeout == timedelta(seconds=30)
    assert k.statistics_interval == timedelta(minutes=15)
    assert k.topic == ""


def test_default_store_is_one_process_wide_store_for_both_sides() -> None:
    assert ConsumerConfig().inmem.store is ProducerConfig().inmem.store is default_store()


def test_each_config_has_its_own_lists() -> None:
    a, b = ConsumerConfig(), ConsumerConfig()
    a.kafka.ignore_errors.append(1)
    assert b.kafka.ignore_errors == CONSUMER_CODES


def test_duration_fields_take_go_strings_and_timedeltas() -> None:
    c = ConsumerConfig()
    c.kafka.commit_interval = "1h30m"  # type: ignore[assignment]
    assert c.kafka.commit_interval == timedelta(minutes=90)
    c.kafka.commit_interval = timedelta(seconds=2)
    assert c.kafka.commit_interval == timedelta(seconds=2)


@pytest.mark.parametrize("bad", [5, 1.5, "5", "-1s", "soon"])
def test_duration_fields_refuse_numbers_nonsense_and_negatives(bad: object) -> None:
    with pytest.raises(ValidationError):
        ConsumerConfig().kafka.session_timeout = bad  # type: ignore[assignment]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("End", Offset.END),
        ("earliest", Offset.BEGINNING),
        ("SMALLEST", Offset.BEGINNING),
        ("latest", Offset.END),
        ("largest", Offset.END),
    ],
)
def test_offset_initial_accepts_aliases_in_any_case(text: str, expected: Offset) -> None:
    c = ConsumerConfig()
    c.kafka.offset_initial = text  # type: ignore[assignment]
    assert c.kafka.offset_initial is expected


@pytest.mark.parametrize(
    ("field", "bad"),
    [("offset_initial", "unknown"), ("security_protocol", "tls"), ("offset_initial", "")],
)
def test_enum_fields_are_validated(field: str, bad: str) -> None:
    with pytest.raises(ValidationError, match="expected one of"):
        setattr(ConsumerConfig().kafka, field, bad)


def test_compression_and_protocol_are_case_insensitive() -> None:
    p = ProducerConfig()
    p.kafka.compression_codec = "ZSTD"  # type: ignore[assignment]
    p.kafka.security_protocol = "SASL_SSL"  # type: ignore[assignment]
    assert p.kafka.compression_codec is Compression.ZSTD
    assert p.kafka.security_protocol is Protocol.SASL_SSL


@pytest.mark.parametrize(("given", "stored"), [("all", -1), ("none", 0), ("Leader", 1), (0, 0)])
def test_required_acks_takes_numbers_and_names(given: object, stored: int) -> None:
    p = ProducerConfig()
    p.kafka.required_acks = given  # type: ignore[assignment]
    assert p.kafka.required_acks == stored


@pytest.mark.parametrize("bad", [2, -2, True, "2", "some"])
def test_required_acks_takes_nothing_else(bad: object) -> None:
    with pytest.raises(ValidationError):
        ProducerConfig().kafka.required_acks = bad  # type: ignore[assignment]


def test_debug_string_follows_the_original_order() -> None:
    assert KafkaDebug(fetch=True, cgrp=True).to_librdkafka() == "cgrp,fetch"
    assert KafkaDebug(all=True, fetch=True).to_librdkafka() == "all"
    assert KafkaDebug().to_librdkafka() == ""


def test_debug_field_takes_a_comma_list_or_names() -> None:
    c = ConsumerConfig()
    c.kafka.debug = "Topic,cgrp"  # type: ignore[assignment]
    assert c.kafka.debug.flags() == {"topic", "cgrp"}
    c.kafka.debug = {"true"}  # type: ignore[assignment]
    assert c.kafka.debug.all
    with pytest.raises(ValidationError, match="valid: all, broker"):
        c.kafka.debug = "cgrp,bogus"  # type: ignore[assignment]


def test_sasl_mechanism_is_validated_and_upper_cased() -> None:
    c = ConsumerConfig()
    c.kafka.sasl.mechanism = "scram-sha-256"
    assert c.kafka.sasl.mechanism == "SCRAM-SHA-256"
    c.kafka.sasl.mechanism = ""
    assert c.kafka.sasl.mechanism == ""
    with pytest.raises(ValidationError, match="not a SASL mechanism"):
        c.kafka.sasl.mechanism = "NTLM"


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("max_in_flight_requests", -1),
        ("max_in_flight_requests", True),
        ("max_in_flight_requests", "5"),
        ("offset_default", 1 << 63),
        ("brokers", ["a", ""]),
        ("topics", [" "]),
        ("group_id", 5),
    ],
)
def test_kafka_fields_are_typed_strictly(field: str, bad: object) -> None:
    with pytest.raises(ValidationError):
        setattr(ConsumerConfig().kafka, field, bad)


def test_librdkafka_config_values_become_strings() -> None:
    c = ConsumerConfig()
    c.kafka.librdkafka_config = {"linger.ms": 5, "enable.idempotence": True}  # type: ignore[dict-item]
    assert c.kafka.librdkafka_config == {"linger.ms": "5", "enable.idempotence": "true"}


def test_standardstream_reader_and_writer_must_be_binary() -> None:
    c, p = ConsumerConfig(), ProducerConfig()
    c.standardstream.reader = io.BytesIO(b"x")
    p.standardstream.writer = io.BytesIO()
    with pytest.raises(ValidationError, match=r"\.buffer"):
        c.standardstream.reader = io.TextIOWrapper(io.BytesIO())  # type: ignore[assignment]
    with pytest.raises(ValidationError, match=r"\.buffer"):
        p.standardstream.writer = io.StringIO()  # type: ignore[assignment]
    with pytest.raises(ValidationError, match="read"):
        c.standardstream.reader = 3  # type: ignore[assignment]


def test_max_line_size_must_be_positive() -> None:
    with pytest.raises(ValidationError):
        ConsumerConfig().standardstream.max_line_size = 0


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError):
        ConsumerConfig(kafak={})  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        ConsumerConfig().kafka.topic = "x"  # type: ignore[attr-defined]  # a producer field


def test_store_must_be_a_store() -> None:
    with pytest.raises(ValidationError):
        ConsumerConfig().inmem.store = []  # type: ignore[assignment]
    store = InmemStore()
    c = ConsumerConfig()
    c.inmem.store = store
    assert c.inmem.store is store


def test_validate_config_catches_changes_made_in_place() -> None:
    c = ConsumerConfig()
    c.kafka.brokers.append("")
    with pytest.raises(ConfigError, match=r"kafka\.brokers"):
        validate_config(c)


def test_validate_config_keeps_objects_by_reference() -> None:
    c = ConsumerConfig()
    reader, store = io.BytesIO(), InmemStore()
    c.standardstream.reader = reader
    c.inmem.store = store
    again = validate_config(c)
    assert again.standardstream.reader is reader
    assert again.inmem.store is store
    assert again.logger is c.logger


def _with_secrets() -> ConsumerConfig:
    c = ConsumerConfig()
    c.kafka.ssl.key_password = SecretStr("ssl-key-secret")
    c.kafka.ssl.keystore_password = "keystore-secret"  # type: ignore[assignment]
    c.kafka.sasl.password = SecretStr("sasl-secret")
    c.kafka.librdkafka_config = {
        "sasl.oauthbearer.config": "principal=oauth-secret",
        "ssl.key.password": "prop-password-secret",
        "client.secret.thing": "prop-secret",
        "linger.ms": "5",
    }
    return c


def test_secrets_never_appear_in_repr_or_str() -> None:
    c = _with_secrets()
    for text in (repr(c), str(c), repr(c.kafka), str(c.kafka.ssl), repr(c.kafka.sasl)):
        assert "secret" not in text.replace("client.secret.thing", ""), text
    assert "'linger.ms': '5'" in repr(c.kafka)


def test_secrets_are_still_there_for_the_client() -> None:
    c = _with_secrets()
    assert c.kafka.ssl.key_password.get_secret_value() == "ssl-key-secret"
    assert c.kafka.librdkafka_config["ssl.key.password"] == "prop-password-secret"


def test_redacted_dict_is_json_and_hides_every_secret() -> None:
    data = redacted_dict(_with_secrets())
    text = json.dumps(data)
    assert "secret" not in text.replace("client.secret.thing", "")
    kafka = data["kafka"]
    assert kafka["ssl"]["key_password"] == "********"
    assert kafka["ssl"]["keystore_password"] == "********"
    assert kafka["sasl"]["password"] == "********"
    assert kafka["librdkafka_config"] == {
        "sasl.oauthbearer.config": "********",
        "ssl.key.password": "********",
        "client.secret.thing": "********",
        "linger.ms": "5",
    }


def _all_sections(config: ClientConfig) -> ClientConfig:
    for name in ("kafka", "standardstream", "inmem"):
        getattr(config, name)  # built on first use
    return config


def test_redacted_dict_shows_only_the_sections_built() -> None:
    config = new_consumer_config(environ={})
    assert "kafka" not in redacted_dict(config)
    config.kafka.group_id = "g"
    data = redacted_dict(config)
    assert data["kafka"]["group_id"] == "g"
    assert "inmem" not in data


def test_redacted_dict_shows_values_as_users_type_them() -> None:
    data = redacted_dict(_all_sections(new_consumer_config()))
    assert data["shutdown_timeout"] == "10s"
    assert data["kafka"]["commit_interval"] == "5s"
    assert data["kafka"]["statistics_interval"] == "15m"
    assert data["kafka"]["offset_initial"] == "beginning"
    assert data["kafka"]["debug"] == ""
    assert data["kafka"]["ssl"]["key_password"] == ""  # not set: nothing to hide
    assert data["standardstream"]["reader"] == "stdin"
    assert data["inmem"]["store"] == "<default InmemStore>"
    assert data["logger"].startswith("<logger 'streamprocessor'")
    producer = redacted_dict(_all_sections(new_producer_config()))
    assert producer["standardstream"]["writer"] == "stdout"
    assert producer["kafka"]["max_queue_buffer_duration"] == "500ms"
    assert producer["kafka"]["compression_codec"] == "lz4"
