"""The pytest plugin of streamprocessor (entry point ``pytest11``): fixtures for users' tests.

``kafka_brokers`` starts a real Apache Kafka broker once per test session (from its Maven
jars, see :mod:`streamprocessor.testing.kafka_broker`) unless the environment variable
``STREAMPROCESSOR_TEST_KAFKA_BROKERS`` names one. When the broker cannot be started the
tests that need it fail with the reason: they never skip silently.

``async def`` tests run with no other plugin: a test function that is still a coroutine
function when it is called (no pytest-asyncio or anyio took it) runs on a fresh event loop
of its own (``asyncio.run``). The fixtures here are sync and work in async tests too; make
async clients in the test body (``async with new_async_consumer(...) as consumer``).
With pytest-asyncio or anyio installed, the tests they take are theirs, fixtures and all.
"""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from streamprocessor.stores import InmemStore

__all__ = ["STREAM_ENV_PATTERN", "inmem_store", "kafka_brokers", "kafka_topic", "stream_env"]

#: the environment variables streamprocessor reads (cleared by ``stream_env``)
STREAM_ENV_PATTERN = re.compile(
    r"^([A-Z0-9_]*_)?(CONSUMER|PRODUCER)_.*$|^(DRY_RUN|CLIENT_TYPE|CLIENT_ID|CA_PATH|"
    r"CERT_PATH|CRL_PATH|MAX_QUEUE_SIZE_KBYTES)$"
)

BROKERS_VARIABLE = "STREAMPROCESSOR_TEST_KAFKA_BROKERS"


@pytest.hookimpl
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Hook: run an ``async def`` test no other plugin took, on an event loop of its own."""
    fn = pyfuncitem.obj
    if not inspect.iscoroutinefunction(fn) or "anyio_backend" in pyfuncitem.funcargs:
        return None  # (a sync test, or anyio's)
    import asyncio

    names = pyfuncitem._fixtureinfo.argnames
    kwargs: dict[str, Any] = {name: pyfuncitem.funcargs[name] for name in names}
    asyncio.run(fn(**kwargs))
    return True


@pytest.fixture
def inmem_store() -> InmemStore:
    """Return a fresh, empty in-memory store."""
    return InmemStore()


@pytest.fixture
def stream_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Clear every variable streamprocessor reads; set your own with the returned patcher."""
    for key in list(os.environ):
        if STREAM_ENV_PATTERN.match(key):
            monkeypatch.delenv(key, raising=False)
    return monkeypatch


@pytest.fixture(scope="session")
def kafka_brokers() -> Iterator[str]:
    """Return the bootstrap address of a real Kafka broker for this test session."""
    given = os.environ.get(BROKERS_VARIABLE)
    if given:
        yield given
        return
    from streamprocessor.testing.kafka_broker import KafkaCluster

    cluster = KafkaCluster(nodes=1)
    cluster.start()
    try:
        yield cluster.bootstrap_servers
    finally:
        cluster.stop()


@pytest.fixture
def kafka_topic(kafka_brokers: str) -> Iterator[Callable[..., str]]:
    """Return a function creating a fresh topic (``kafka_topic(partitions=1)``) for one test.

    Topics are deleted after the test.
    """
    from streamprocessor.clients.kafka import testing as kt

    created: list[str] = []

    def make(partitions: int = 1, name: str | None = None, **config: str) -> str:
        topic = kt.create_topic(kafka_brokers, name=name, partitions=partitions, config=config)
        created.append(topic)
        return topic

    yield make
    if created:
        kt.delete_topics(kafka_brokers, created)
