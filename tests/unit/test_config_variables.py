"""The table of environment variables: the original's names, right fields, true defaults."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, SecretStr

import streamprocessor.config as config_package
from streamprocessor.config import (
    VARIABLES,
    ClientKind,
    ConsumerConfig,
    KafkaDebug,
    ProducerConfig,
    Variable,
    env_prefix,
    variables_for,
)
from streamprocessor.config.parsing import parse_value

# SPEC §7.5, consumer then producer, plus the variables this port adds.
SPEC_CONSUMER = {
    "CLIENT_TYPE", "INMEM_CONSUME_ONCE", "KAFKA_BROKERS", "KAFKA_COMMIT_INTERVAL",
    "KAFKA_DEBUG", "KAFKA_GROUP_ID", "KAFKA_HEARTBEAT_INTERVAL", "KAFKA_CLIENT_ID",
    "KAFKA_IGNOREERRORS", "KAFKA_MAX_IN_FLIGHT_REQUESTS", "KAFKA_MAX_POLL_INTERVAL",
    "KAFKA_OFFSET_DEFAULT", "KAFKA_OFFSET_INITIAL", "KAFKA_SECURITY_PROTOCOL",
    "KAFKA_SESSION_TIMEOUT", "KAFKA_SSL_CA_PATH", "KAFKA_SSL_CERT_PATH", "KAFKA_SSL_CRL_PATH",
    "KAFKA_SSL_KEY_PASSWORD", "KAFKA_SSL_KEY_PATH", "KAFKA_SSL_KEYSTORE_PASSWORD",
    "KAFKA_SSL_KEYSTORE_PATH", "KAFKA_STATISTICS_INTERVAL", "KAFKA_TOPICS",
}  # fmt: skip
SPEC_PRODUCER = {
    "CLIENT_TYPE", "KAFKA_BATCH_MESSAGE_SIZE", "KAFKA_BROKERS", "KAFKA_COMPRESSION_CODEC",
    "KAFKA_DEBUG", "KAFKA_HEARTBEAT_INTERVAL", "KAFKA_CLIENT_ID", "KAFKA_IGNOREERRORS",
    "KAFKA_MAX_DELIVERY_RETRIES", "KAFKA_MAX_IN_FLIGHT_REQUESTS",
    "KAFKA_MAX_QUEUE_BUFFER_DURATION", "KAFKA_MAX_QUEUE_SIZE_KBYTES",
    "KAFKA_MAX_QUEUE_SIZE_MESSAGES", "KAFKA_REQUIRED_ACKS", "KAFKA_RETRY_BACKOFF",
    "KAFKA_SECURITY_PROTOCOL", "KAFKA_SESSION_TIMEOUT", "KAFKA_SSL_CA_PATH",
    "KAFKA_SSL_CERT_PATH", "KAFKA_SSL_CRL_PATH", "KAFKA_SSL_KEY_PASSWORD", "KAFKA_SSL_KEY_PATH",
    "KAFKA_SSL_KEYSTORE_PASSWORD", "KAFKA_SSL_KEYSTORE_PATH", "KAFKA_STATISTICS_INTERVAL",
    "KAFKA_TOPIC",
}  # fmt: skip
OURS_BOTH = {
    "KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD",
    "KAFKA_LIBRDKAFKA_CONFIG", "SHUTDOWN_TIMEOUT", "KAFKA_CONNECT_TIMEOUT",
}  # fmt: skip
FALLBACKS = {
    "CLIENT_TYPE": "CLIENT_TYPE",
    "KAFKA_CLIENT_ID": "CLIENT_ID",
    "KAFKA_SSL_CA_PATH": "CA_PATH",
    "KAFKA_SSL_CERT_PATH": "CERT_PATH",
    "KAFKA_SSL_CRL_PATH": "CRL_PATH",
    "KAFKA_MAX_QUEUE_SIZE_KBYTES": "MAX_QUEUE_SIZE_KBYTES",
}
SECRETS = {
    "KAFKA_SSL_KEY_PASSWORD", "KAFKA_SSL_KEYSTORE_PASSWORD", "KAFKA_SASL_PASSWORD",
    "KAFKA_LIBRDKAFKA_CONFIG",
}  # fmt: skip
KINDS: list[ClientKind] = ["consumer", "producer"]


def _suffixes(kind: ClientKind) -> set[str]:
    return {v.suffix for v in variables_for(kind)}


def test_consumer_variables_are_the_originals_plus_ours() -> None:
    assert _suffixes("consumer") == SPEC_CONSUMER | OURS_BOTH | {"STANDARDSTREAM_MAX_LINE_SIZE"}


def test_producer_variables_are_the_originals_plus_ours() -> None:
    assert _suffixes("producer") == SPEC_PRODUCER | OURS_BOTH


@pytest.mark.parametrize("kind", KINDS)
def test_no_variable_appears_twice_for_one_kind(kind: ClientKind) -> None:
    suffixes = [v.suffix for v in variables_for(kind)]
    assert len(suffixes) == len(set(suffixes))


def test_fallbacks_are_the_originals() -> None:
    assert {v.suffix: v.fallback for v in VARIABLES if v.fallback} == FALLBACKS


def test_secret_variables() -> None:
    assert {v.suffix for v in VARIABLES if v.secret} == SECRETS


def _config(kind: ClientKind) -> BaseModel:
    return ConsumerConfig() if kind == "consumer" else ProducerConfig()


def _get(model: Any, path: str) -> Any:
    for part in path.split("."):
        model = getattr(model, part)
    return model


def _plain(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, KafkaDebug):
        return value.flags()
    return value


@pytest.mark.parametrize(
    ("kind", "var"),
    [(k, v) for k in KINDS for v in variables_for(k)],
    ids=lambda x: x if isinstance(x, str) else x.suffix,
)
def test_every_field_path_exists_and_the_default_text_is_true(
    kind: ClientKind, var: Variable
) -> None:
    default = _plain(_get(_config(kind), var.field))
    if var.default_text == "":
        assert default in ("", None, [], {}, frozenset()), (var.suffix, default)
    else:
        parsed = _plain(parse_value(var, var.default_text, var.suffix))
        assert parsed == default, var.suffix


def test_variable_texts_for_help() -> None:
    by_suffix = {v.suffix: v for v in variables_for("consumer")}
    offset = by_suffix["KAFKA_OFFSET_INITIAL"]
    assert offset.values == ["beginning", "end"]
    assert offset.aliases == ["earliest", "smallest", "latest", "largest"]
    assert offset.type_text == "one of beginning, end"
    assert by_suffix["KAFKA_COMMIT_INTERVAL"].type_text == "duration"
    assert by_suffix["KAFKA_COMMIT_INTERVAL"].expected == "a Go duration such as 500ms, 5s or 1h30m"
    assert by_suffix["KAFKA_STATISTICS_INTERVAL"].default_text == "15m"
    assert by_suffix["KAFKA_IGNOREERRORS"].default_text.split(",")[-1] == "-147"
    producer = {v.suffix: v for v in variables_for("producer")}
    assert "-147" not in producer["KAFKA_IGNOREERRORS"].default_text.split(",")
    assert producer["KAFKA_MAX_QUEUE_BUFFER_DURATION"].default_text == "500ms"
    assert all(v.description and v.description.endswith(".") for v in VARIABLES)


@pytest.mark.parametrize(
    ("kind", "name", "prefix"),
    [
        ("consumer", "", "CONSUMER"),
        ("producer", "", "PRODUCER"),
        ("consumer", "hello", "HELLO_CONSUMER"),
        ("producer", "hello_world", "HELLO_WORLD_PRODUCER"),
        ("producer", "producer2", "PRODUCER2_PRODUCER"),
        ("consumer", "my-app", "MY-APP_CONSUMER"),
    ],
)
def test_env_prefix_is_the_originals_rule(kind: ClientKind, name: str, prefix: str) -> None:
    assert env_prefix(kind, name) == prefix


def test_env_name_joins_prefix_and_suffix() -> None:
    brokers = next(v for v in VARIABLES if v.suffix == "KAFKA_BROKERS")
    assert brokers.env_name(env_prefix("producer", "hello_world")) == (
        "HELLO_WORLD_PRODUCER_KAFKA_BROKERS"
    )


def test_only_env_module_reads_the_environment() -> None:
    package = Path(config_package.__file__).parent
    files = [*package.glob("*.py"), package.parent / "options.py"]
    pattern = re.compile(r"^\s*(import os\b|from os\b)", re.MULTILINE)
    readers = {f.name for f in files if pattern.search(f.read_text())}
    assert readers == {"env.py"}
