"""The standard-stream clients' quick start: a default config without pydantic."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

import streamprocessor
from streamprocessor import options
from streamprocessor.clients.inmem import InmemConsumer
from streamprocessor.clients.standardstream import StandardstreamConsumer, StandardstreamProducer
from streamprocessor.config import (
    VARIABLES,
    ConsumerConfig,
    ProducerConfig,
    env_prefix,
    new_consumer_config,
    new_producer_config,
    variables_for,
)
from streamprocessor.config.defaults import DefaultConfig
from streamprocessor.config.env import LEGACY_NAMES, defaults_apply, env_client_type

SRC = Path(streamprocessor.__file__).resolve().parent.parent


@pytest.mark.parametrize("kind", ["consumer", "producer"])
def test_default_config_holds_the_models_defaults(kind):
    quick = DefaultConfig(kind, "standardstream")
    build = new_consumer_config if kind == "consumer" else new_producer_config
    real = build(environ={})
    for field in (
        "name",
        "allow_environment_based_configuration",
        "handle_errors",
        "handle_interrupt",
        "shutdown_timeout",
        "logger",
        "ack_barrier",
        "interrupt_coordinator",
    ):
        assert getattr(quick, field) == getattr(real, field), field
    section = real.standardstream
    assert vars(quick.standardstream) == dict(section)


@pytest.mark.parametrize("kind", ["consumer", "producer"])
def test_materialize_builds_what_the_factory_would(kind):
    built = DefaultConfig(kind, "standardstream").materialize()
    expected = new_consumer_config() if kind == "consumer" else new_producer_config()
    expected.type = "standardstream"
    assert isinstance(built, ConsumerConfig if kind == "consumer" else ProducerConfig)
    assert built == expected


def test_legacy_names_are_the_tables_fallbacks():
    fallbacks = {v.fallback for v in VARIABLES if v.fallback}
    assert fallbacks - {"CLIENT_TYPE"} == LEGACY_NAMES


@pytest.mark.parametrize("kind", ["consumer", "producer"])
def test_every_variable_of_the_client_disables_the_quick_start(kind):
    assert defaults_apply(kind, (), {})
    assert defaults_apply(kind, (None, None), {"PATH": "/bin", "OTHER_CONSUMER_X": "1"})
    assert not defaults_apply(kind, (options.name("x"),), {})
    for var in variables_for(kind):
        if var.field == "type":  # the factory reads the client type itself
            assert defaults_apply(kind, (), {var.env_name(env_prefix(kind)): "kafka"})
            continue
        assert not defaults_apply(kind, (), {var.env_name(env_prefix(kind)): "x"}), var.suffix
        if var.fallback:
            assert not defaults_apply(kind, (), {var.fallback: "x"}), var.fallback


def test_env_client_type_prefers_the_prefixed_variable():
    assert env_client_type("consumer", {}) is None
    assert env_client_type("consumer", {"CLIENT_TYPE": "inmem"}) == "inmem"
    env = {"CLIENT_TYPE": "inmem", "CONSUMER_CLIENT_TYPE": ""}
    assert env_client_type("consumer", env) == ""
    assert env_client_type("producer", {"PRODUCER_CLIENT_TYPE": " Kafka "}) == " Kafka "


def test_factory_quick_start_gives_the_same_config(stream_env):
    stream_env.setenv("CONSUMER_CLIENT_TYPE", " StandardStream ")
    stream_env.setenv("DRY_RUN", "")
    with streamprocessor.new_consumer() as c, streamprocessor.new_producer() as p:
        assert isinstance(c, StandardstreamConsumer)
        assert isinstance(p, StandardstreamProducer)
        assert isinstance(c._config, DefaultConfig)
        assert isinstance(c.config, ConsumerConfig)
        assert c.config.type == "standardstream"
        assert c.config is c.config  # built once
        assert isinstance(p.config, ProducerConfig)
        assert p.config.type == "standardstream"


def test_factory_builds_the_config_when_an_option_or_variable_is_given(stream_env):
    stream_env.setenv("CONSUMER_CLIENT_TYPE", "standardstream")
    reader = io.BytesIO(b"a\n")
    with streamprocessor.new_consumer(options.standardstream_reader(reader)) as c:
        assert isinstance(c._config, ConsumerConfig)
        assert [m.value for m in c] == [b"a"]
    stream_env.setenv("CONSUMER_STANDARDSTREAM_MAX_LINE_SIZE", "7")
    with streamprocessor.new_consumer() as c:
        assert isinstance(c._config, ConsumerConfig)
        assert c.config.standardstream.max_line_size == 7


def test_factory_quick_start_only_for_standardstream(stream_env):
    stream_env.setenv("CONSUMER_CLIENT_TYPE", "inmem")
    with streamprocessor.new_consumer() as c:
        assert isinstance(c, InmemConsumer)
        assert isinstance(c.config, ConsumerConfig)


def test_module_constructors_quick_start(stream_env):
    from streamprocessor.clients import standardstream

    stream_env.setenv("CONSUMER_CLIENT_TYPE", "kafka")  # recorded as the original did
    with standardstream.new_consumer() as c, standardstream.new_producer() as p:
        assert isinstance(c._config, DefaultConfig)
        assert c.config == new_consumer_config()
        assert p.config == new_producer_config()


def _run(code: str, stdin: bytes, **env: str) -> subprocess.CompletedProcess[bytes]:
    full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(SRC), **env}
    return subprocess.run(
        [sys.executable, "-c", code], input=stdin, capture_output=True, env=full, timeout=60
    )


def test_echo_with_defaults_never_imports_pydantic():
    code = (
        "import sys, streamprocessor\n"
        "with streamprocessor.new_consumer() as c, streamprocessor.new_producer() as p:\n"
        "    for m in c:\n"
        "        p.send(m)\n"
        "        c.ack(m)\n"
        "    assert 'pydantic' not in sys.modules, 'pydantic imported'\n"
        "    assert c.config.type == 'standardstream'\n"
        "    assert 'pydantic' in sys.modules\n"
    )
    out = _run(code, b"a\nb\n", DRY_RUN="1")
    assert out.returncode == 0, out.stderr.decode()
    assert out.stdout == b"a\nb\n"


def test_options_module_is_imported_on_first_use():
    code = (
        "import sys, streamprocessor\n"
        "assert 'streamprocessor.options' not in sys.modules\n"
        "assert streamprocessor.options.kafka_topic('t') is not None\n"
        "from streamprocessor import options\n"
        "assert options is streamprocessor.options\n"
    )
    out = _run(code, b"")
    assert out.returncode == 0, out.stderr.decode()
