"""The conformance suite on every client type the registry knows, in every harness variant.

Each client type's spec names its harnesses (``ClientSpec.harness``, in the type's own
folder): inmem in listen and consume-once mode, standardstream over a file, a BytesIO and
a pipe, Kafka against the real broker. A type from another installed package is run too
(``tests/integration/test_third_party_backend.py`` does so for one outside ``src/``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

import streamprocessor.clients.registry as registry
from streamprocessor.clients.spec import load
from streamprocessor.testing import async_form
from streamprocessor.testing.conformance import ConformanceSuite, Harness

Factory = Callable[[pytest.FixtureRequest], Harness]


def _cases() -> Iterator[Any]:
    for name in registry.names():
        spec = registry.get(name)
        if not spec.harness:
            continue
        harnesses: dict[str, Factory] = load(spec.harness)
        marks = [getattr(pytest.mark, m) for m in spec.test_marks]
        for variant, make in harnesses.items():
            yield pytest.param(make, id=f"{name}-{variant}", marks=marks)


CASES = list(_cases())


def test_every_built_in_type_has_harnesses() -> None:
    ids = {case.id for case in CASES}
    for name in registry.BUILT_IN:
        assert any(i.startswith(f"{name}-") for i in ids), name


class TestConformance(ConformanceSuite):
    @pytest.fixture(params=CASES)
    def harness(self, request: pytest.FixtureRequest) -> Harness:
        make: Factory = request.param
        return make(request)


class TestConformanceAsync(ConformanceSuite):
    """The same suite, every call through the client's async face (``async for`` …)."""

    @pytest.fixture(params=CASES)
    def harness(self, request: pytest.FixtureRequest) -> Harness:
        make: Factory = request.param
        return async_form(make(request))
