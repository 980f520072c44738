"""Test helpers for users of streamprocessor.

- :class:`ConformanceSuite`, :class:`Harness`, :class:`Features`, :func:`collect`,
  :class:`HeldProducer`: the contract tests every client passes
  (``streamprocessor.testing.conformance``);
- :func:`async_form`: a harness whose clients the suite drives through their async face
  (``async for``, ``await consumer.ack(msg)``, …): the suite's async form;
- :func:`run_handler`: run a handler over messages in memory, under the runner's policies,
  and get a :class:`HandlerResult`;
- the pytest plugin (registered by the ``pytest11`` entry point) with the fixtures
  ``inmem_store``, ``stream_env`` (a clean environment), ``kafka_brokers`` (a real broker,
  started by the test session unless ``STREAMPROCESSOR_TEST_KAFKA_BROKERS`` names one) and
  ``kafka_topic`` (a function making fresh topics, deleted after the test);
- ``streamprocessor.testing.kafka_broker``: start and stop an Apache Kafka broker from its
  Maven jars.

Names are imported lazily, so ``python -m streamprocessor.testing.kafka_broker`` does not
need pytest.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from streamprocessor.testing._async import async_form
    from streamprocessor.testing.conformance import (
        ConformanceSuite,
        Features,
        Harness,
        HeldProducer,
        collect,
    )
    from streamprocessor.testing.harness import HandlerResult, run_handler

_LAZY = {
    "async_form": "streamprocessor.testing._async",
    "ConformanceSuite": "streamprocessor.testing.conformance",
    "Features": "streamprocessor.testing.conformance",
    "Harness": "streamprocessor.testing.conformance",
    "HeldProducer": "streamprocessor.testing.conformance",
    "collect": "streamprocessor.testing.conformance",
    "HandlerResult": "streamprocessor.testing.harness",
    "run_handler": "streamprocessor.testing.harness",
}

__all__ = [
    "ConformanceSuite",
    "Features",
    "HandlerResult",
    "Harness",
    "HeldProducer",
    "async_form",
    "collect",
    "run_handler",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'streamprocessor.testing' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
