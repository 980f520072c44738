"""Environment loading: every variable, precedence, prefixes, fallbacks, and clear errors."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from streamprocessor import options
from streamprocessor.config import (
    ClientKind,
    Compression,
    ConfigError,
    ConsumerConfig,
    KafkaDebug,
    Offset,
    ProducerConfig,
    Protocol,
    Variable,
    client_type_from_env,
    dry_run,
    env_prefix,
    load_env,
    new_consumer_config,
    new_producer_config,
    variables_for,
)

KINDS: list[ClientKind] = ["consumer", "producer"]


@pytest.fixture(autouse=True)
def env(stream_env: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Clear CONSUMER_*, PRODUCER_*, *_CONSUMER_*, *_PRODUCER_*, DRY_RUN and the fallbacks."""
    return stream_env


def build(kind: ClientKind, environ: dict[str, str], *opts: Any) -> ConsumerConfig | ProducerConfig:
    if kind == "consumer":
        return new_consumer_config(*opts, environ=environ)
    return new_producer_config(*opts, environ=environ)


def get(config: Any, path: str) -> Any:
    for part in path.split("."):
        config = getattr(config, part)
    if isinstance(config, SecretStr):
        return config.get_secret_value()
    return config


# suffix → (valid text, value stored, invalid text or None when every text is valid)
SAMPLES: dict[str, tuple[str, Any, str | None]] = {
    "CLIENT_TYPE": ("kafka", "kafka", None),
    "SHUTDOWN_TIMEOUT": ("1m30s", timedelta(seconds=90), "90"),
    "INMEM_CONSUME_ONCE": ("false", False, "nope"),
    "STANDARDSTREAM_MAX_LINE_SIZE": ("0x100", 256, "0"),
    "KAFKA_BATCH_MESSAGE_SIZE": ("1_000", 1000, "10.5"),
    "KAFKA_BROKERS": ("a:9092, b:9092", ["a:9092", "b:9092"], "a,,b"),
    "KAFKA_COMMIT_INTERVAL": ("1.5s", timedelta(seconds=1.5), "1.5"),
    "KAFKA_COMPRESSION_CODEC": ("ZSTD", Compression.ZSTD, "brotli"),
    "KAFKA_DEBUG": ("CGRP, fetch", KafkaDebug(cgrp=True, fetch=True), "cgrp,nope"),
    "KAFKA_GROUP_ID": ("group", "group", None),
    "KAFKA_HEARTBEAT_INTERVAL": ("150ms", timedelta(milliseconds=150), "150"),
    "KAFKA_CLIENT_ID": ("me", "me", None),
    "KAFKA_IGNOREERRORS": ("-195, 5", [-195, 5], "5,x"),
    "KAFKA_MAX_DELIVERY_RETRIES": ("0", 0, "-1"),
    "KAFKA_MAX_IN_FLIGHT_REQUESTS": ("5", 5, "010"),
    "KAFKA_MAX_POLL_INTERVAL": ("5m", timedelta(minutes=5), "5 m"),
    "KAFKA_MAX_QUEUE_BUFFER_DURATION": ("10ms", timedelta(milliseconds=10), "10"),
    "KAFKA_MAX_QUEUE_SIZE_KBYTES": ("1024", 1024, "1k"),
    "KAFKA_MAX_QUEUE_SIZE_MESSAGES": ("0b101", 5, "many"),
    "KAFKA_OFFSET_DEFAULT": ("-10", -10, "ten"),
    "KAFKA_OFFSET_INITIAL": ("Latest", Offset.END, "middle"),
    "KAFKA_REQUIRED_ACKS": ("leader", 1, "2"),
    "KAFKA_RETRY_BACKOFF": ("1s", timedelta(seconds=1), "1sec"),
    "KAFKA_SECURITY_PROTOCOL": ("SASL_SSL", Protocol.SASL_SSL, "tls"),
    "KAFKA_SESSION_TIMEOUT": ("10s", timedelta(seconds=10), "-10s"),
    "KAFKA_SSL_CA_PATH": ("/ca.pem", "/ca.pem", None),
    "KAFKA_SSL_CERT_PATH": ("/cert.pem", "/cert.pem", None),
    "KAFKA_SSL_CRL_PATH": ("/crl.pem", "/crl.pem", None),
    "KAFKA_SSL_KEY_PASSWORD": ("key-pw", "key-pw", None),
    "KAFKA_SSL_KEY_PATH": ("/key.pem", "/key.pem", None),
    "KAFKA_SSL_KEYSTORE_PASSWORD": ("store-pw", "store-pw", None),
    "KAFKA_SSL_KEYSTORE_PATH": ("/ks.p12", "/ks.p12", None),
    "KAFKA_SASL_MECHANISM": ("scram-sha-512", "SCRAM-SHA-512", "NTLM"),
    "KAFKA_SASL_USERNAME": ("user", "user", None),
    "KAFKA_SASL_PASSWORD": ("sasl-pw", "sasl-pw", None),
    "KAFKA_STATISTICS_INTERVAL": ("0", timedelta(0), "never"),
    "KAFKA_TOPICS": ("a,b", ["a", "b"], "a,"),
    "KAFKA_TOPIC": ("t", "t", None),
    "KAFKA_CONNECT_TIMEOUT": ("5s", timedelta(seconds=5), "-5s"),
    "KAFKA_LIBRDKAFKA_CONFIG": (
        "linger.ms=5, debug=cgrp,fetch",
        {"linger.ms": "5", "debug": "cgrp,fetch"},
        "sasl.password-without-equals",
    ),
}
CASES = [(k, v) for k in KINDS for v in variables_for(k)]
CASE_IDS = [f"{k}-{v.suffix}" for k, v in CASES]


def test_every_variable_has_a_sample() -> None:
    assert {v.suffix for _, v in CASES} == set(SAMPLES)


@pytest.mark.parametrize(("kind", "var"), CASES, ids=CASE_IDS)
def test_every_variable_sets_its_field(kind: ClientKind, var: Variable) -> None:
    text, expected, _ = SAMPLES[var.suffix]
    config = build(kind, {var.env_name(env_prefix(kind)): text})
    assert get(config, var.field) == expected


REJECTED = [(k, v) for k, v in CASES if SAMPLES[v.suffix][2] is not None]


def test_only_plain_text_variables_accept_any_text() -> None:
    accepting = {v.kind for _, v in CASES if SAMPLES[v.suffix][2] is None}
    assert accepting == {"str", "secret"}
    assert all(v.kind not in accepting for _, v in REJECTED)


@pytest.mark.parametrize(("kind", "var"), REJECTED, ids=[f"{k}-{v.suffix}" for k, v in REJECTED])
def test_every_variable_rejects_nonsense_naming_itself(kind: ClientKind, var: Variable) -> None:
    bad = SAMPLES[var.suffix][2]
    assert bad is not None
    name = var.env_name(env_prefix(kind))
    with pytest.raises(ConfigError) as info:
        build(kind, {name: bad})
    message = str(info.value)
    assert name in message
    if var.secret:
        assert "<hidden>" in message and bad not in message
    else:
        assert repr(bad) in message


def test_error_message_says_the_accepted_form() -> None:
    with pytest.raises(ConfigError) as info:
        new_consumer_config(environ={"CONSUMER_KAFKA_COMMIT_INTERVAL": "abc"})
    assert str(info.value) == (
        "invalid value 'abc' for CONSUMER_KAFKA_COMMIT_INTERVAL: "
        "expected a Go duration such as 500ms, 5s or 1h30m"
    )


def test_leading_zero_integer_is_an_error_with_the_octal_reading() -> None:
    with pytest.raises(ConfigError, match=r"Go read this as octal 8; write 8 or 0o10"):
        new_consumer_config(environ={"CONSUMER_KAFKA_MAX_IN_FLIGHT_REQUESTS": "010"})


@pytest.mark.parametrize(
    ("text", "value"),
    [("42", 42), ("+42", 42), ("0x2a", 42), ("0X2A", 42), ("0o52", 42), ("0b101010", 42),
     ("4_2", 42), ("0", 0), ("00", 0), (" 42 ", 42), ("0x_2a", 42)],
)  # fmt: skip
def test_integers_take_go_prefixes_and_underscores(text: str, value: int) -> None:
    config = new_producer_config(environ={"PRODUCER_KAFKA_BATCH_MESSAGE_SIZE": text})
    assert config.kafka.batch_message_size == value


@pytest.mark.parametrize(
    "text", ["", "4__2", "_42", "42_", "4.2", "1e3", "٤٢", "09", "0x", "9223372036854775808"]
)
def test_integers_refuse_the_rest(text: str) -> None:
    with pytest.raises(ConfigError, match="PRODUCER_KAFKA_BATCH_MESSAGE_SIZE"):
        new_producer_config(environ={"PRODUCER_KAFKA_BATCH_MESSAGE_SIZE": text})


@pytest.mark.parametrize(
    ("text", "value"),
    [("1", True), ("t", True), ("T", True), ("TRUE", True), ("true", True), ("True", True),
     ("yes", True), ("YES", True), ("0", False), ("f", False), ("F", False), ("FALSE", False),
     ("false", False), ("False", False), ("no", False), ("No", False)],
)  # fmt: skip
def test_booleans_are_gos_set_plus_yes_no(text: str, value: bool) -> None:
    config = new_consumer_config(environ={"CONSUMER_INMEM_CONSUME_ONCE": text})
    assert config.inmem.consume_once is value


@pytest.mark.parametrize("text", ["", "tRuE", "on", "off", "2", "y"])
def test_booleans_refuse_the_rest(text: str) -> None:
    with pytest.raises(ConfigError, match="CONSUMER_INMEM_CONSUME_ONCE"):
        new_consumer_config(environ={"CONSUMER_INMEM_CONSUME_ONCE": text})


@pytest.mark.parametrize(
    ("text", "value"),
    [("", []), ("  ", []), ("a", ["a"]), (" a , b ", ["a", "b"]), ("a:1,b:2", ["a:1", "b:2"])],
)
def test_lists_are_trimmed_and_empty_means_empty(text: str, value: list[str]) -> None:
    config = new_consumer_config(environ={"CONSUMER_KAFKA_TOPICS": text})
    assert config.kafka.topics == value


@pytest.mark.parametrize("text", ["a,,b", "a,", ",a", ","])
def test_lists_refuse_empty_items(text: str) -> None:
    with pytest.raises(ConfigError, match="is empty"):
        new_consumer_config(environ={"CONSUMER_KAFKA_TOPICS": text})


def test_present_but_empty_string_overrides() -> None:
    config = new_consumer_config(
        options.kafka_group_id("g"), environ={"CONSUMER_KAFKA_GROUP_ID": ""}
    )
    assert config.kafka.group_id == ""


def test_present_but_empty_int_list_clears_the_codes() -> None:
    config = new_consumer_config(environ={"CONSUMER_KAFKA_IGNOREERRORS": ""})
    assert config.kafka.ignore_errors == []


@pytest.mark.parametrize(
    "suffix", ["KAFKA_COMMIT_INTERVAL", "KAFKA_MAX_IN_FLIGHT_REQUESTS", "KAFKA_OFFSET_INITIAL",
               "KAFKA_OFFSET_DEFAULT", "INMEM_CONSUME_ONCE", "KAFKA_SASL_MECHANISM"],
)  # fmt: skip
def test_present_but_empty_scalar_is_an_error(suffix: str) -> None:
    with pytest.raises(ConfigError, match="set but empty"):
        new_consumer_config(environ={f"CONSUMER_{suffix}": ""})


def test_debug_adds_to_flags_set_in_code() -> None:
    config = new_consumer_config(
        options.consumer_options(lambda c: setattr(c.kafka.debug, "topic", True)),
        environ={"CONSUMER_KAFKA_DEBUG": "cgrp"},
    )
    assert config.kafka.debug.to_librdkafka() == "cgrp,topic"


@pytest.mark.parametrize("text", ["all", "true", "1", "cgrp,ALL"])
def test_debug_all_words(text: str) -> None:
    config = new_producer_config(environ={"PRODUCER_KAFKA_DEBUG": text})
    assert config.kafka.debug.to_librdkafka() == "all"


def test_librdkafka_config_merges_over_code() -> None:
    config = new_producer_config(
        options.kafka_librdkafka_config({"linger.ms": "5", "acks": "all"}),
        environ={"PRODUCER_KAFKA_LIBRDKAFKA_CONFIG": "linger.ms=10,enable.idempotence=true"},
    )
    assert config.kafka.librdkafka_config == {
        "linger.ms": "10",
        "acks": "all",
        "enable.idempotence": "true",
    }


@pytest.mark.parametrize("text", ["x", "=5", "a=1,,b=2", "sasl.password=hunter2,"])
def test_librdkafka_config_errors_never_show_the_value(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        new_producer_config(environ={"PRODUCER_KAFKA_LIBRDKAFKA_CONFIG": text})
    assert "<hidden>" in str(info.value)
    assert "hunter2" not in str(info.value)


def test_env_overrides_options() -> None:
    config = new_consumer_config(
        options.kafka_broker("broker2"), environ={"CONSUMER_KAFKA_BROKERS": "broker1"}
    )
    assert config.kafka.brokers == ["broker1"]


def test_options_override_defaults_and_apply_in_order() -> None:
    config = new_consumer_config(
        options.kafka_commit_interval("1s"), options.kafka_commit_interval("2s"), environ={}
    )
    assert config.kafka.commit_interval == timedelta(seconds=2)


def test_disabled_environment_is_not_read() -> None:
    environ = {"CONSUMER_KAFKA_BROKERS": "broker1", "CONSUMER_KAFKA_COMMIT_INTERVAL": "bad"}
    config = new_consumer_config(
        options.kafka_broker("broker2"), options.disable_environment_config(), environ=environ
    )
    assert config.kafka.brokers == ["broker2"]
    assert config.allow_environment_based_configuration is False


def test_the_process_environment_is_read_by_default(env: pytest.MonkeyPatch) -> None:
    env.setenv("PRODUCER_KAFKA_TOPIC", "from-env")
    assert new_producer_config().kafka.topic == "from-env"
    assert new_producer_config(options.disable_environment_config()).kafka.topic == ""


def test_named_client_reads_its_own_prefix() -> None:
    environ = {
        "HELLO_WORLD_PRODUCER_KAFKA_BROKERS": "named:9092",
        "PRODUCER_KAFKA_BROKERS": "plain:9092",
    }
    config = new_producer_config(options.name("hello_world"), environ=environ)
    assert config.kafka.brokers == ["named:9092"]
    assert new_producer_config(environ=environ).kafka.brokers == ["plain:9092"]


def test_producer2_reads_producer2_producer_variables() -> None:
    environ = {"PRODUCER2_PRODUCER_KAFKA_TOPIC": "out", "PRODUCER2_KAFKA_TOPIC": "wrong"}
    assert new_producer_config(options.name("producer2"), environ=environ).kafka.topic == "out"


def test_name_from_a_later_option_decides_the_prefix() -> None:
    environ = {"B_CONSUMER_KAFKA_GROUP_ID": "b"}
    config = new_consumer_config(options.name("a"), options.name("b"), environ=environ)
    assert config.kafka.group_id == "b"


@pytest.mark.parametrize(
    ("fallback", "suffix", "field"),
    [
        ("CLIENT_ID", "KAFKA_CLIENT_ID", "kafka.id"),
        ("CA_PATH", "KAFKA_SSL_CA_PATH", "kafka.ssl.ca_path"),
        ("CERT_PATH", "KAFKA_SSL_CERT_PATH", "kafka.ssl.cert_path"),
        ("CRL_PATH", "KAFKA_SSL_CRL_PATH", "kafka.ssl.crl_path"),
        ("CLIENT_TYPE", "CLIENT_TYPE", "type"),
    ],
)
@pytest.mark.parametrize("kind", KINDS)
def test_fallbacks_apply_to_every_client_and_lose_to_prefixed_names(
    kind: ClientKind, fallback: str, suffix: str, field: str
) -> None:
    assert get(build(kind, {fallback: "legacy"}), field) == "legacy"
    assert get(build(kind, {fallback: "legacy"}, options.name("x")), field) == "legacy"
    prefixed = f"{env_prefix(kind)}_{suffix}"
    assert get(build(kind, {fallback: "legacy", prefixed: "new"}), field) == "new"
    assert get(build(kind, {fallback: "legacy", prefixed: ""}), field) == ""


def test_max_queue_size_kbytes_fallback_is_for_producers() -> None:
    environ = {"MAX_QUEUE_SIZE_KBYTES": "64"}
    assert new_producer_config(environ=environ).kafka.max_queue_size_kbytes == 64
    environ["PRODUCER_KAFKA_MAX_QUEUE_SIZE_KBYTES"] = "128"
    assert new_producer_config(environ=environ).kafka.max_queue_size_kbytes == 128
    assert new_consumer_config(environ=environ).kafka.id == ""  # consumers ignore it


def test_consumer_variables_do_not_reach_producers() -> None:
    environ = {"CONSUMER_KAFKA_BROKERS": "c:1", "PRODUCER_KAFKA_BROKERS": "p:1"}
    assert new_consumer_config(environ=environ).kafka.brokers == ["c:1"]
    assert new_producer_config(environ=environ).kafka.brokers == ["p:1"]


def test_client_type_is_read_even_with_environment_disabled() -> None:
    config = new_consumer_config(options.disable_environment_config(), environ={})
    assert client_type_from_env(config, "consumer", {"CONSUMER_CLIENT_TYPE": " Kafka "}) == "kafka"
    assert client_type_from_env(config, "consumer", {"CLIENT_TYPE": "INMEM"}) == "inmem"
    both = {"CLIENT_TYPE": "inmem", "CONSUMER_CLIENT_TYPE": "kafka"}
    assert client_type_from_env(config, "consumer", both) == "kafka"
    assert client_type_from_env(config, "consumer", {}) == ""


def test_client_type_falls_back_to_the_config_and_follows_the_name() -> None:
    config = new_producer_config(
        options.name("out"), options.producer_options(lambda p: setattr(p, "type", "InMem"))
    )
    assert client_type_from_env(config, environ={}) == "inmem"
    assert client_type_from_env(config, environ={"OUT_PRODUCER_CLIENT_TYPE": "kafka"}) == "kafka"
    assert client_type_from_env(config, environ={"PRODUCER_CLIENT_TYPE": "kafka"}) == "inmem"


def test_dry_run_is_presence(env: pytest.MonkeyPatch) -> None:
    assert dry_run({}) is False
    assert dry_run({"DRY_RUN": ""}) is True
    assert dry_run() is False
    env.setenv("DRY_RUN", "0")
    assert dry_run() is True


def test_load_env_with_explicit_prefix() -> None:
    config = load_env(ConsumerConfig(), {"KAFKA_BROKERS": "x:1"}, prefix="")
    assert config.kafka.brokers == ["x:1"]  # an empty prefix means bare names
    config = load_env(ConsumerConfig(), {"TEST_KAFKA_BROKERS": "x:1"}, prefix="TEST")
    assert config.kafka.brokers == ["x:1"]


def test_secret_values_are_hidden_in_errors_from_fields() -> None:
    with pytest.raises(ConfigError) as info:
        new_consumer_config(environ={"CONSUMER_KAFKA_LIBRDKAFKA_CONFIG": "ssl.key.password"})
    assert "ssl.key.password" not in str(info.value)
