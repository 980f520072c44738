"""One config type, composed of the client types' sections, built only where used."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

import streamprocessor
from streamprocessor import options
from streamprocessor.clients.inmem import InmemConsumer, InmemConsumerConfig
from streamprocessor.clients.standardstream import StandardstreamConsumer, StandardstreamProducer
from streamprocessor.config import (
    VARIABLES,
    ConfigError,
    ConsumerConfig,
    KafkaConsumerConfig,
    ProducerConfig,
    client_type_from_env,
    new_consumer_config,
)
from streamprocessor.config.env import LEGACY_NAMES

SRC = Path(streamprocessor.__file__).resolve().parent.parent


def test_legacy_names_are_the_tables_fallbacks():
    fallbacks = {v.fallback for v in VARIABLES if v.fallback}
    assert fallbacks - {"CLIENT_TYPE"} == LEGACY_NAMES


def test_client_type_from_env_prefers_the_prefixed_variable():
    config = ConsumerConfig()
    assert client_type_from_env(config, environ={}) == ""
    assert client_type_from_env(config, environ={"CLIENT_TYPE": "inmem"}) == "inmem"
    env = {"CLIENT_TYPE": "inmem", "CONSUMER_CLIENT_TYPE": ""}
    assert client_type_from_env(config, environ=env) == ""
    producer = ProducerConfig()
    assert client_type_from_env(producer, environ={"PRODUCER_CLIENT_TYPE": " Kafka "}) == "kafka"


def test_a_section_is_built_on_first_use_and_validated():
    config = ConsumerConfig()
    assert config.sections() == {}
    assert isinstance(config.kafka, KafkaConsumerConfig)
    assert set(config.sections()) == {"kafka"}
    config.kafka.commit_interval = "2s"  # type: ignore[assignment]
    assert config.kafka.commit_interval.total_seconds() == 2
    with pytest.raises(ValueError, match="offset_initial"):
        config.kafka.offset_initial = "nonsense"  # type: ignore[assignment]
    config.inmem = {"consume_once": False}  # type: ignore[assignment]
    assert isinstance(config.inmem, InmemConsumerConfig)
    assert config.section(InmemConsumerConfig) is config.inmem
    with pytest.raises(AttributeError):
        config.nosuchtype  # noqa: B018


def test_sections_are_given_to_the_constructor_and_copied():
    config = ConsumerConfig(name="x", kafka={"group_id": "g"})
    assert config.kafka.group_id == "g"
    copy = config.model_copy()
    copy.inmem = InmemConsumerConfig()
    assert set(config.sections()) == {"kafka"}
    assert set(copy.sections()) == {"kafka", "inmem"}
    assert "group_id='g'" in repr(config)
    with pytest.raises(ValueError, match="nosuchfield"):
        ConsumerConfig(kafka={"nosuchfield": 1})


def test_only_the_chosen_types_section_is_built(stream_env):
    stream_env.setenv("CONSUMER_CLIENT_TYPE", "inmem")
    with streamprocessor.new_consumer() as c:
        assert isinstance(c, InmemConsumer)
        assert set(c.config.sections()) == {"inmem"}


def test_only_the_chosen_types_variables_are_read(stream_env):
    stream_env.setenv("CONSUMER_CLIENT_TYPE", "inmem")
    stream_env.setenv("CONSUMER_KAFKA_SESSION_TIMEOUT", "nonsense")
    with streamprocessor.new_consumer() as c:  # a Kafka variable does not concern inmem
        assert set(c.config.sections()) == {"inmem"}
    stream_env.setenv("CONSUMER_CLIENT_TYPE", "kafka")
    with pytest.raises(ConfigError, match="CONSUMER_KAFKA_SESSION_TIMEOUT"):
        streamprocessor.new_consumer()


def test_without_a_type_every_builtin_types_variables_are_read():
    with pytest.raises(ConfigError, match="CONSUMER_KAFKA_SESSION_TIMEOUT"):
        new_consumer_config(environ={"CONSUMER_KAFKA_SESSION_TIMEOUT": "nonsense"})
    config = new_consumer_config(environ={"CONSUMER_INMEM_CONSUME_ONCE": "false"})
    assert config.inmem.consume_once is False


def test_standardstream_factory_builds_its_section_only(stream_env):
    stream_env.setenv("CONSUMER_CLIENT_TYPE", " StandardStream ")
    stream_env.setenv("DRY_RUN", "")
    with streamprocessor.new_consumer() as c, streamprocessor.new_producer() as p:
        assert isinstance(c, StandardstreamConsumer)
        assert isinstance(p, StandardstreamProducer)
        assert c.config.type == "standardstream"
        assert set(c.config.sections()) == {"standardstream"}
        assert set(p.config.sections()) == {"standardstream"}


def test_options_and_variables_reach_the_standardstream_section(stream_env):
    stream_env.setenv("CONSUMER_CLIENT_TYPE", "standardstream")
    reader = io.BytesIO(b"a\n")
    with streamprocessor.new_consumer(options.standardstream_reader(reader)) as c:
        assert [m.value for m in c] == [b"a"]
    stream_env.setenv("CONSUMER_STANDARDSTREAM_MAX_LINE_SIZE", "7")
    with streamprocessor.new_consumer() as c:
        assert c.config.standardstream.max_line_size == 7


def test_module_constructors_fix_the_type(stream_env):
    from streamprocessor.clients import standardstream

    stream_env.setenv("CONSUMER_CLIENT_TYPE", "kafka")  # the module's own type wins
    with standardstream.new_consumer() as c, standardstream.new_producer() as p:
        assert c.config.type == "standardstream"
        assert p.config.type == "standardstream"


def _run(code: str, stdin: bytes, **env: str) -> subprocess.CompletedProcess[bytes]:
    full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(SRC), **env}
    return subprocess.run(
        [sys.executable, "-c", code], input=stdin, capture_output=True, env=full, timeout=60
    )


#: what a stdin or in-memory run must never import
HEAVY = ("confluent_kafka", "asyncio", "prometheus_client", "opentelemetry",
         "streamprocessor.clients.kafka")  # fmt: skip


@pytest.mark.parametrize("type_name", ["standardstream", "inmem"])
def test_stdin_and_inmem_runs_import_no_backend_library(type_name):
    code = (
        "import sys, streamprocessor\n"
        "from streamprocessor import options\n"
        "with streamprocessor.new_consumer() as c, streamprocessor.new_producer() as p:\n"
        "    for m in c:\n"
        "        p.send(m)\n"
        "        c.ack(m)\n"
        f"heavy = [m for m in sys.modules if m.split('.')[0] in {HEAVY!r}\n"
        f"         or any(m.startswith(h + '.') or m == h for h in {HEAVY!r})]\n"
        "assert not heavy, heavy\n"
    )
    env = {"CLIENT_TYPE": type_name} if type_name == "inmem" else {"DRY_RUN": "1"}
    out = _run(code, b"a\nb\n", **env)
    assert out.returncode == 0, out.stderr.decode()
    if type_name == "standardstream":
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
