"""The registry of client types: names to specs, entry points, extras, the variable table."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

import streamprocessor
import streamprocessor.clients.registry as registry
from streamprocessor.clients.spec import ClientSpec
from streamprocessor.stream import MissingDependencyError, UnknownClientError

ROOT = Path(__file__).resolve().parents[2]
EXTRAS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]


def _needs_redis() -> ClientSpec:
    return ClientSpec(
        name="fakeredis",
        summary="a type needing an extra",
        consumer="streamprocessor.clients.inmem.client:InmemConsumer",
        producer="streamprocessor.clients.inmem.client:InmemProducer",
        requires=("a_module_that_is_not_installed_here",),
        extra="redis",
    )


@pytest.fixture
def needs_redis(monkeypatch: pytest.MonkeyPatch) -> ClientSpec:
    spec = _needs_redis()
    monkeypatch.setitem(registry._specs, spec.name, spec)
    return spec


def test_choosing_a_type_whose_library_is_missing_names_the_extra(
    needs_redis: ClientSpec, stream_env: pytest.MonkeyPatch
) -> None:
    stream_env.setenv("CONSUMER_CLIENT_TYPE", "fakeredis")
    with pytest.raises(MissingDependencyError) as info:
        streamprocessor.new_consumer()
    text = str(info.value)
    assert "'a_module_that_is_not_installed_here'" in text
    assert "pip install 'streamprocessor[redis]'" in text
    assert needs_redis.extra in EXTRAS  # the extra named is one the package has


def test_the_extras_for_new_backends_and_observability_exist() -> None:
    assert {"redis", "metrics", "otel"} <= set(EXTRAS)
    assert any(d.startswith("redis") for d in EXTRAS["redis"])
    assert any(d.startswith("prometheus-client") for d in EXTRAS["metrics"])
    assert any(d.startswith("opentelemetry-api") for d in EXTRAS["otel"])


def test_a_spec_without_missing_modules_requires_nothing() -> None:
    spec = ClientSpec(name="x", summary="", requires=("json",), extra="redis")
    assert spec.missing() == []
    spec.require()  # nothing raised


def test_every_built_in_spec_is_complete_and_named_as_registered() -> None:
    for name in registry.BUILT_IN:
        spec = registry.get(name)
        assert spec.name == name
        assert spec.consumer and spec.producer and spec.harness and spec.options
        assert spec.section("consumer") is not None and spec.section("producer") is not None
        assert spec.missing() == []
        for row in spec.variables:  # every row sets a field of the type's own section
            assert row.field.split(".")[0] == name, row.suffix
        assert spec.extra == "" or spec.extra in EXTRAS


def test_an_unknown_type_lists_the_valid_ones_and_a_close_match() -> None:
    with pytest.raises(UnknownClientError) as info:
        registry.get("kafak", "consumer", "CONSUMER_CLIENT_TYPE")
    text = str(info.value)
    assert "CONSUMER_CLIENT_TYPE" in text
    assert "did you mean 'kafka'" in text
    assert "inmem, kafka, standardstream" in text
    assert registry.ENTRY_POINT_GROUP in text


def test_a_spec_under_another_name_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.BUILT_IN, "other", "streamprocessor.clients.inmem.spec:SPEC")
    with pytest.raises(UnknownClientError, match="under the name 'other'"):
        registry.find("other")


def test_a_spec_that_cannot_be_imported_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.BUILT_IN, "broken", "streamprocessor.no_such_module:SPEC")
    with pytest.raises(UnknownClientError, match=r"importing the built-in .* failed"):
        registry.find("broken")


def test_the_variable_table_is_the_global_rows_then_each_types() -> None:
    rows = registry.variables_for("consumer", ["inmem"])
    assert [r.suffix for r in rows] == ["CLIENT_TYPE", "SHUTDOWN_TIMEOUT", "INMEM_CONSUME_ONCE"]
    producer = [r.suffix for r in registry.variables_for("producer", ["inmem"])]
    assert "INMEM_CONSUME_ONCE" not in producer
    every = {r.suffix for r in registry.variables_for("consumer")}
    assert {"KAFKA_BROKERS", "STANDARDSTREAM_MAX_LINE_SIZE", "INMEM_CONSUME_ONCE"} <= every
