"""The conformance suite on the in-memory client, in listen and consume-once modes."""

from __future__ import annotations

from typing import Any

import pytest

from streamprocessor import options
from streamprocessor.clients import inmem
from streamprocessor.stores import InmemStore
from streamprocessor.testing.conformance import ConformanceSuite, Features, Harness


class InmemHarness(Harness):
    def __init__(self, listen: bool) -> None:
        # messages come back exactly as stored: no offset or topic is made up; a nack puts
        # the one message back; nothing can break an in-memory store (no fatal error)
        fields = frozenset({"value", "key", "timestamp", "tags"})
        common: dict[str, Any] = {"fields": fields, "nack": "requeue", "fatal_errors": False}
        features = (
            Features(**common)
            if listen
            else Features(  # a fixture read once: nothing is committed
                **common,
                persistent_acks=False,
                redelivers_unacked=False,
                finite=True,
                ack_barrier=False,
            )
        )
        super().__init__(features=features, timeout=5.0)
        self.store = InmemStore()
        self.listen = listen

    def new_producer(self, *opts: Any) -> Any:
        return inmem.new_producer(options.inmem_store(self.store), *opts)

    def new_consumer(self, *opts: Any) -> Any:
        mode = [options.inmem_listen()] if self.listen else []
        return inmem.new_consumer(options.inmem_store(self.store), *mode, *opts)


class TestInmemListenConformance(ConformanceSuite):
    @pytest.fixture
    def harness(self) -> Harness:
        return InmemHarness(listen=True)


class TestInmemConsumeOnceConformance(ConformanceSuite):
    @pytest.fixture
    def harness(self) -> Harness:
        return InmemHarness(listen=False)
