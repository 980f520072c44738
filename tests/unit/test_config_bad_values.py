"""Every variable, flag and option refuses a bad value naming it and the accepted form."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from streamprocessor import options
from streamprocessor.cli import EXIT_USAGE, main
from streamprocessor.config import (
    ConsumerConfig,
    ProducerConfig,
    Variable,
    env_prefix,
    load_env,
    new_consumer_config,
    variables_for,
)
from streamprocessor.runner.settings import SETTINGS, from_sources
from streamprocessor.stream import ConfigError

#: a value each kind refuses
BAD: dict[str, str] = {
    "str": "caf\udce9",  # the byte 0xe9 of Latin-1, as os.environ decodes it
    "secret": "hunter\udcff",
    "int": "many",
    "count": "-5",
    "positive-int": "0",
    "optional-int": "010",
    "bool": "maybe",
    "duration": "5",
    "str-list": "a,,b",
    "int-list": "1,x",
    "enum": "nonsense",
    "custom": "nonsense",  # KAFKA_DEBUG: not a librdkafka debug flag
    "kv-dict": "novalue",
    "names": "invalid,",
    "name": "dead letters",
}

_ROWS = [(kind, var) for kind in ("consumer", "producer") for var in variables_for(kind)]


def _names(kind: str, var: Variable) -> list[tuple[str, str]]:
    """(name read, config name) for the plain and named prefixes and the fallback."""
    out = [(var.env_name(env_prefix(kind)), ""),  # type: ignore[arg-type]
           (var.env_name(env_prefix(kind, "my-client")), "my-client")]  # type: ignore[arg-type]
    if var.fallback:
        out.append((var.fallback, ""))
    return out


@pytest.mark.parametrize(("kind", "var"), _ROWS, ids=[f"{k}-{v.suffix}" for k, v in _ROWS])
def test_every_client_variable_refuses_a_bad_value_naming_it(kind: str, var: Variable) -> None:
    """A bad value names the variable it was read as and the accepted form."""
    for name, client in _names(kind, var):
        config = ConsumerConfig(name=client) if kind == "consumer" else ProducerConfig(name=client)
        with pytest.raises(ConfigError) as info:
            load_env(config, {name: BAD[var.kind]})
        text = str(info.value)
        assert f" for {name}: expected {var.expected}" in text
        if var.secret:
            assert "hunter" not in text


@pytest.mark.parametrize("kind", ["str", "secret", "str-list", "kv-dict", "count", "duration"])
def test_text_that_is_not_utf8_or_holds_a_nul_is_refused_for_every_kind(kind: str) -> None:
    """Lone surrogates (bytes that are not UTF-8) and NULs never pass, whatever the kind."""
    var = next(v for _, v in _ROWS if v.kind == kind)
    name = var.env_name("CONSUMER" if var.applies_to("consumer") else "PRODUCER")
    config: Any = ConsumerConfig() if var.applies_to("consumer") else ProducerConfig()
    for raw, said in (("\udcff", "not valid UTF-8"), ("a\x00b", "NUL")):
        with pytest.raises(ConfigError, match=f"for {name}: .*{said}"):
            load_env(config, {name: raw})


def test_a_value_that_is_not_utf8_is_shown_as_its_bytes() -> None:
    with pytest.raises(ConfigError, match=r"invalid value b'caf\\xe9' for CONSUMER_KAFKA_GROUP_ID"):
        new_consumer_config(environ={"CONSUMER_KAFKA_GROUP_ID": "caf\udce9"})


_OPTIONS: list[tuple[str, Callable[[], Any]]] = [
    ("kafka_group_id", lambda: options.kafka_group_id("\udcff")),
    ("kafka_topic", lambda: options.kafka_topic("t\x00")),
    ("kafka_broker", lambda: options.kafka_broker("\udcff:9092")),
    ("kafka_id", lambda: options.kafka_id("\udcff")),
    ("kafka_ssl", lambda: options.kafka_ssl(ca_path="/ca\udcff.pem")),
    ("kafka_ssl", lambda: options.kafka_ssl(key_password="p\x00")),
    ("kafka_sasl", lambda: options.kafka_sasl("PLAIN", "u\udcff", "p")),
    ("kafka_sasl", lambda: options.kafka_sasl("PLAIN", "u", "secret\udcff")),
    ("kafka_librdkafka_config", lambda: options.kafka_librdkafka_config({"a\udcff": "1"})),
    ("kafka_librdkafka_config", lambda: options.kafka_librdkafka_config({"a": "1\x00"})),
    ("kafka_librdkafka_config",
     lambda: options.kafka_librdkafka_config({"sasl.password": "s\udcff"})),
    ("name", lambda: options.name("\udcff")),
]


@pytest.mark.parametrize(("option", "make"), _OPTIONS, ids=[o for o, _ in _OPTIONS])
def test_options_refuse_text_librdkafka_cannot_take(option: str, make: Callable[[], Any]) -> None:
    """The option named, what is wrong said, no secret shown."""
    with pytest.raises(ConfigError, match=r"(not valid UTF-8|NUL)") as info:
        make()
    assert f"options.{option}()" in str(info.value)
    assert "secret" not in str(info.value)


def test_a_config_changed_in_code_is_checked_again() -> None:
    """An option that appends in place is caught by the final validation."""
    with pytest.raises(ConfigError, match=r"kafka.topics.0: not valid UTF-8"):
        new_consumer_config(lambda c: c.kafka.topics.append("\udcff"), environ={})


def test_an_out_of_range_variable_says_it_in_our_words() -> None:
    with pytest.raises(ConfigError) as info:
        load_env(ProducerConfig(), {"PRODUCER_KAFKA_MAX_IN_FLIGHT_REQUESTS": "-5"})
    assert "must be at least 0" in str(info.value)
    assert "Input should" not in str(info.value)


@pytest.mark.parametrize("setting", SETTINGS, ids=[s.field for s in SETTINGS])
def test_every_runner_variable_and_flag_refuses_a_bad_value_naming_it(setting: Any) -> None:
    """Variable and flag: the name, the accepted form with an example, ConfigError."""
    expected = setting.expected
    bad = BAD[setting.kind] if setting.kind != "str" else "\udcff"
    with pytest.raises(ConfigError) as info:
        from_sources("run", {}, {setting.env: bad})
    assert f" for {setting.env}: expected {expected}" in str(info.value)
    if setting.flag and setting.kind != "bool":
        given: Any = [bad] if setting.kind == "names" else bad
        with pytest.raises(ConfigError) as info:
            from_sources("run", {setting.field: given}, {})
        assert f" for {setting.flag}: expected {expected}" in str(info.value)


@pytest.mark.parametrize(
    ("env", "said"),
    [
        ({"STREAMPROCESSOR_CONCURRENCY": "0"}, "'0' for STREAMPROCESSOR_CONCURRENCY"),
        ({"STREAMPROCESSOR_RETRIES": "-1"}, "'-1' for STREAMPROCESSOR_RETRIES"),
        ({"STREAMPROCESSOR_PRODUCERS": "invalid,"}, "item 2 is empty"),
        ({"STREAMPROCESSOR_DEAD_LETTER_PRODUCER": "dead letters"}, "not a producer name"),
        ({"STREAMPROCESSOR_STATS": ""}, "set but empty"),
        ({"STREAMPROCESSOR_CONCURRENCY": "010"}, "octal 8"),
    ],
)
def test_runner_variables_the_issue_names(env: dict[str, str], said: str) -> None:
    with pytest.raises(ConfigError, match=said):
        from_sources("run", {}, env)


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--producer", "bad name"], "'bad name' for --producer: expected"),
        (["--producer", ""], "'' for --producer: expected"),
        (["--concurrency", "0"], "'0' for --concurrency: expected a whole number, 1 or more"),
        (["--retries", "-1"], "'-1' for --retries"),
        (["--on-error", "retry"], "for --on-error: expected one of stop, skip, dead-letter"),
        (["--dead-letter-topic", "\udcff"], "b'\\xff' for --dead-letter-topic"),
    ],
)
def test_a_bad_flag_exits_2_naming_it(args: list[str], said: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """No traceback, exit status 2, the flag named."""
    assert main(["run", "json:dumps", *args]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert said in err
    assert "Traceback" not in err


def test_a_bad_bare_client_type_is_blamed_on_the_variable_set(
    stream_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stream_env.setenv("CLIENT_TYPE", "kafak")
    stream_env.setenv("DRY_RUN", "1")
    assert main(["pipe"]) == EXIT_USAGE
    assert "'kafak' in CLIENT_TYPE (did you mean 'kafka'?)" in capsys.readouterr().err
