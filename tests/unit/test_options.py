"""Options: one per Go option, each touching only its side, each checking its argument."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from streamprocessor import options
from streamprocessor.config import (
    Compression,
    ConfigError,
    ConsumerConfig,
    Offset,
    ProducerConfig,
    Protocol,
    apply_options,
    new_consumer_config,
    new_producer_config,
    redacted_dict,
)
from streamprocessor.stores import InmemStore
from streamprocessor.util.barrier import AckBarrier
from streamprocessor.util.interrupts import ShutdownCoordinator

LOG = logging.getLogger("test-options")
STORE = InmemStore()
BARRIER = AckBarrier()
COORD = ShutdownCoordinator()
READER = io.BytesIO(b"in")
WRITER = io.BytesIO()


@pytest.fixture(autouse=True)
def _own_env(stream_env: pytest.MonkeyPatch) -> None:
    """Clear CONSUMER_*, PRODUCER_*, *_CONSUMER_*, *_PRODUCER_*, DRY_RUN and the fallbacks."""


def get(config: Any, path: str) -> Any:
    for part in path.split("."):
        config = getattr(config, part)
    return config.get_secret_value() if isinstance(config, SecretStr) else config


# (option, the side it changes, field, value after applying it to a default config)
TABLE: list[tuple[options.Option, str, str, Any]] = [
    (options.consumer_options(lambda c: setattr(c, "type", "x")), "consumer", "type", "x"),
    (options.producer_options(lambda p: setattr(p, "type", "y")), "producer", "type", "y"),
    (options.disable_environment_config(), "both", "allow_environment_based_configuration", False),
    (options.manual_error_handling(), "both", "handle_errors", False),
    (options.manual_interrupt_handling(), "both", "handle_interrupt", False),
    (options.logger(LOG), "both", "logger", LOG),
    (options.ack_barrier(BARRIER), "both", "ack_barrier", BARRIER),
    (options.interrupt_coordinator(COORD), "both", "interrupt_coordinator", COORD),
    (options.name("n"), "both", "name", "n"),
    (options.shutdown_timeout("1s"), "both", "shutdown_timeout", timedelta(seconds=1)),
    (options.inmem_listen(), "consumer", "inmem.consume_once", False),
    (options.inmem_store(STORE), "both", "inmem.store", STORE),
    (options.standardstream_reader(READER), "consumer", "standardstream.reader", READER),
    (options.standardstream_writer(WRITER), "producer", "standardstream.writer", WRITER),
    (options.standardstream_max_line_size(10), "consumer", "standardstream.max_line_size", 10),
    (options.kafka_broker("b:1"), "both", "kafka.brokers", ["b:1"]),
    (options.kafka_commit_interval("1s"), "consumer", "kafka.commit_interval",
     timedelta(seconds=1)),
    (options.kafka_compression_codec("GZIP"), "producer", "kafka.compression_codec",
     Compression.GZIP),
    (options.kafka_connect_timeout("5s"), "both", "kafka.connect_timeout",
     timedelta(seconds=5)),
    (options.kafka_debug(), "both", "kafka.debug.all", True),
    (options.kafka_group_id("g"), "consumer", "kafka.group_id", "g"),
    (options.kafka_handle_transient_errors(), "both", "kafka.ignore_errors", []),
    (options.kafka_heartbeat_interval(timedelta(milliseconds=150)), "both",
     "kafka.heartbeat_interval", timedelta(milliseconds=150)),
    (options.kafka_id("i"), "both", "kafka.id", "i"),
    (options.kafka_max_delivery_retries(3), "producer", "kafka.max_delivery_retries", 3),
    (options.kafka_max_in_flight_requests(7), "both", "kafka.max_in_flight_requests", 7),
    (options.kafka_max_poll_interval("10m"), "consumer", "kafka.max_poll_interval",
     timedelta(minutes=10)),
    (options.kafka_max_queue_buffer_duration("5ms"), "producer", "kafka.max_queue_buffer_duration",
     timedelta(milliseconds=5)),
    (options.kafka_max_queue_size_kbytes(1), "producer", "kafka.max_queue_size_kbytes", 1),
    (options.kafka_max_queue_size_messages(2), "producer", "kafka.max_queue_size_messages", 2),
    (options.kafka_offset_head(5), "consumer", "kafka.offset_default", 5),
    (options.kafka_offset_initial("latest"), "consumer", "kafka.offset_initial", Offset.END),
    (options.kafka_offset_tail(5), "consumer", "kafka.offset_default", -5),
    (options.kafka_ordered_delivery(), "producer", "kafka.max_in_flight_requests", 1),
    (options.kafka_require_no_ack(), "producer", "kafka.required_acks", 0),
    (options.kafka_require_leader_ack(), "producer", "kafka.required_acks", 1),
    (options.kafka_retry_backoff("2s"), "producer", "kafka.retry_backoff", timedelta(seconds=2)),
    (options.kafka_security_protocol("SSL"), "both", "kafka.security_protocol", Protocol.SSL),
    (options.kafka_session_timeout("6s"), "both", "kafka.session_timeout", timedelta(seconds=6)),
    (options.kafka_ssl("ca", "cert", "crl", "kpw", "key", "spw", "store"), "both",
     "kafka.ssl.keystore_password", "spw"),
    (options.kafka_statistics_interval("0s"), "both", "kafka.statistics_interval", timedelta(0)),
    (options.kafka_sasl("plain", "u", "p"), "both", "kafka.sasl.mechanism", "PLAIN"),
    (options.kafka_librdkafka_config({"linger.ms": 5}), "both", "kafka.librdkafka_config",
     {"linger.ms": "5"}),
]  # fmt: skip
IDS = [repr(row[0]) for row in TABLE]
# Covered by their own tests below.
SPECIAL = {
    "ConsumerOption", "Option", "ProducerOption",  # types
    "kafka_group_id_random", "kafka_require_all_ack", "kafka_topic",
}  # fmt: skip


def test_the_table_covers_every_option() -> None:
    tested = {re.sub(r"^options\.(\w+)\(.*", r"\1", repr(row[0])) for row in TABLE}
    assert tested | SPECIAL == set(options.__all__)


@pytest.mark.parametrize(("option", "side", "field", "value"), TABLE, ids=IDS)
def test_option_sets_its_field(option: options.Option, side: str, field: str, value: Any) -> None:
    configs = [ConsumerConfig(), ProducerConfig()]
    for config in configs:
        applies = side == "both" or type(config).__name__.lower().startswith(side)
        before = repr(config), redacted_dict(config)
        result = option(config)
        assert result is None or result is config
        if applies:
            assert get(config, field) == value
        else:
            assert (repr(config), redacted_dict(config)) == before


def test_every_option_survives_the_builders() -> None:
    for option, side, field, value in TABLE:
        if side in ("consumer", "both"):
            assert get(new_consumer_config(option, environ={}), field) == value
        if side in ("producer", "both"):
            assert get(new_producer_config(option, environ={}), field) == value


def test_require_all_ack_restores_the_default() -> None:
    config = new_producer_config(
        options.kafka_require_no_ack(), options.kafka_require_all_ack(), environ={}
    )
    assert config.kafka.required_acks == -1
    consumer = ConsumerConfig()
    options.kafka_require_all_ack()(consumer)
    assert "required_acks" not in repr(consumer)


def test_kafka_topic_appends_for_consumers_and_sets_for_producers() -> None:
    opts = (options.kafka_topic("a"), options.kafka_topic("b"))
    assert new_consumer_config(*opts, environ={}).kafka.topics == ["a", "b"]
    assert new_producer_config(*opts, environ={}).kafka.topic == "b"


def test_kafka_broker_appends() -> None:
    opts = (options.kafka_broker("a:1"), options.kafka_broker("b:1"))
    assert new_producer_config(*opts, environ={}).kafka.brokers == ["a:1", "b:1"]


def test_kafka_group_id_random_draws_a_new_uuid4_each_time() -> None:
    option = options.kafka_group_id_random()
    first = new_consumer_config(option, environ={}).kafka.group_id
    second = new_consumer_config(option, environ={}).kafka.group_id
    pattern = r"processor-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
    assert re.fullmatch(pattern, first)
    assert first != second
    assert repr(new_producer_config(option, environ={})) == repr(ProducerConfig())


def test_kafka_librdkafka_config_merges() -> None:
    config = new_consumer_config(
        options.kafka_librdkafka_config({"a": "1", "b": "1"}),
        options.kafka_librdkafka_config({"b": "2"}),
        environ={},
    )
    assert config.kafka.librdkafka_config == {"a": "1", "b": "2"}


def test_logger_none_restores_the_default() -> None:
    config = new_consumer_config(options.logger(LOG), options.logger(None), environ={})
    assert config.logger is logging.getLogger("streamprocessor")


def test_durations_take_timedeltas_and_strings() -> None:
    a = new_consumer_config(options.kafka_commit_interval(timedelta(seconds=90)), environ={})
    b = new_consumer_config(options.kafka_commit_interval("1m30s"), environ={})
    assert a.kafka.commit_interval == b.kafka.commit_interval == timedelta(seconds=90)


@pytest.mark.parametrize("n", [0, 4_294_967_295])
def test_offset_head_and_tail_take_the_uint32_range(n: int) -> None:
    config = new_consumer_config(options.kafka_offset_head(n), environ={})
    assert config.kafka.offset_default == n
    config = new_consumer_config(options.kafka_offset_tail(n), environ={})
    assert config.kafka.offset_default == -n


BAD: list[tuple[str, Callable[[], Any]]] = [
    ("kafka_offset_head", lambda: options.kafka_offset_head(-1)),
    ("kafka_offset_head", lambda: options.kafka_offset_head(4_294_967_296)),
    ("kafka_offset_tail", lambda: options.kafka_offset_tail(True)),
    ("kafka_offset_tail", lambda: options.kafka_offset_tail(1.5)),  # type: ignore[arg-type]
    ("kafka_commit_interval", lambda: options.kafka_commit_interval("5")),
    ("kafka_commit_interval", lambda: options.kafka_commit_interval(5)),  # type: ignore[arg-type]
    ("kafka_session_timeout", lambda: options.kafka_session_timeout("-1s")),
    ("kafka_compression_codec", lambda: options.kafka_compression_codec("brotli")),
    ("kafka_offset_initial", lambda: options.kafka_offset_initial("middle")),
    ("kafka_security_protocol", lambda: options.kafka_security_protocol("tls")),
    ("kafka_sasl", lambda: options.kafka_sasl("NTLM", "u", "p")),
    ("kafka_broker", lambda: options.kafka_broker("")),
    ("kafka_topic", lambda: options.kafka_topic(" ")),
    ("kafka_max_in_flight_requests", lambda: options.kafka_max_in_flight_requests(-1)),
    ("kafka_max_delivery_retries", lambda: options.kafka_max_delivery_retries("5")),  # type: ignore[arg-type]
    ("standardstream_max_line_size", lambda: options.standardstream_max_line_size(0)),
    ("standardstream_reader", lambda: options.standardstream_reader(io.StringIO())),  # type: ignore[arg-type]
    ("standardstream_writer", lambda: options.standardstream_writer("out.txt")),  # type: ignore[arg-type]
    ("inmem_store", lambda: options.inmem_store([])),  # type: ignore[arg-type]
    ("logger", lambda: options.logger("log")),  # type: ignore[arg-type]
    ("name", lambda: options.name(None)),  # type: ignore[arg-type]
    ("kafka_librdkafka_config", lambda: options.kafka_librdkafka_config({"": "x"})),
    ("kafka_librdkafka_config", lambda: options.kafka_librdkafka_config(["a=b"])),  # type: ignore[arg-type]
    ("consumer_options", lambda: options.consumer_options("fn")),  # type: ignore[arg-type]
    ("producer_options", lambda: options.producer_options(None)),  # type: ignore[arg-type]
]  # fmt: skip


@pytest.mark.parametrize(("name", "make"), BAD, ids=[f"{n}-{i}" for i, (n, _) in enumerate(BAD)])
def test_bad_arguments_raise_naming_the_option(name: str, make: Callable[[], Any]) -> None:
    with pytest.raises(ConfigError, match=rf"options\.{name}\(\)"):
        make()


def test_secrets_stay_out_of_option_reprs_and_errors() -> None:
    assert "hunter2" not in repr(options.kafka_ssl(key_password="hunter2"))
    assert "hunter2" not in repr(options.kafka_sasl("PLAIN", "u", "hunter2"))
    assert "hunter2" not in repr(options.kafka_librdkafka_config({"sasl.password": "hunter2"}))
    with pytest.raises(ConfigError) as info:
        options.kafka_ssl(key_password=["hunter2"])  # type: ignore[arg-type]
    assert "hunter2" not in str(info.value)


def test_multiple_consumer_options_compose() -> None:
    config = new_consumer_config(
        options.consumer_options(lambda c: setattr(c.kafka, "group_id", "g")),
        options.consumer_options(lambda c: c.kafka.topics.append("t")),
        environ={},
    )
    assert (config.kafka.group_id, config.kafka.topics) == ("g", ["t"])


def test_none_options_are_skipped() -> None:
    config = new_consumer_config(None, options.kafka_group_id("g"), None, environ={})
    assert config.kafka.group_id == "g"


def test_an_option_may_return_a_new_config() -> None:
    replacement = ConsumerConfig(name="new")
    config = new_consumer_config(lambda c: replacement, environ={})
    assert config.name == "new"
    assert new_consumer_config(lambda c: "ignored", environ={}).name == ""
    assert new_consumer_config(lambda c: ProducerConfig(name="x"), environ={}).name == ""


def test_a_non_callable_option_is_an_error() -> None:
    with pytest.raises(ConfigError, match="option 2 is not callable"):
        new_consumer_config(None, "kafka", environ={})  # type: ignore[arg-type]


def test_an_invalid_value_set_by_a_plain_callable_names_the_option() -> None:
    with pytest.raises(ConfigError, match=r"option 1 .* set an invalid value: .*commit_interval"):
        new_consumer_config(lambda c: setattr(c.kafka, "commit_interval", "5x"), environ={})


def test_invalid_values_set_in_place_are_caught_at_the_end() -> None:
    with pytest.raises(ConfigError, match=r"kafka\.topics"):
        new_consumer_config(lambda c: c.kafka.topics.append(""), environ={})


def test_one_option_never_shares_a_list_between_configs() -> None:
    option = options.kafka_handle_transient_errors()
    a, b = ConsumerConfig(), ConsumerConfig()
    option(a)
    option(b)
    a.kafka.ignore_errors.append(1)
    assert b.kafka.ignore_errors == []


def test_apply_options_returns_the_changed_config() -> None:
    config = apply_options(ProducerConfig(), options.kafka_topic("t"), None)
    assert config.kafka.topic == "t"


def test_options_read_well() -> None:
    assert repr(options.kafka_topic("a")) == "options.kafka_topic('a')"
    assert repr(options.kafka_debug()) == "options.kafka_debug()"
    assert repr(options.kafka_offset_tail(3)) == "options.kafka_offset_tail(3)"
