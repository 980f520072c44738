"""The in-memory client's conformance harnesses: listen mode and consume-once mode.

Messages come back exactly as stored (no offset or topic is made up); a nack puts the
one message back; nothing can break an in-memory store, so there is no fatal error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from streamprocessor import options
from streamprocessor.clients import inmem
from streamprocessor.stores import InmemStore
from streamprocessor.testing.conformance import Features, Harness

if TYPE_CHECKING:
    import pytest

    from streamprocessor.clients.inmem.client import InmemConsumer, InmemProducer

__all__ = ["HARNESSES", "InmemHarness"]


class InmemHarness(Harness):
    """Producers and consumers share one fresh store."""

    def __init__(self, listen: bool) -> None:
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

    def new_producer(self, *opts: Any) -> InmemProducer:
        """Return a producer into the harness's store."""
        return inmem.new_producer(options.inmem_store(self.store), *opts)

    def new_consumer(self, *opts: Any) -> InmemConsumer:
        """Return a consumer of the harness's store (listening, or reading it once)."""
        mode = [options.inmem_listen()] if self.listen else []
        return inmem.new_consumer(options.inmem_store(self.store), *mode, *opts)


#: the harnesses the conformance suite runs this client type with: variant → factory
HARNESSES: dict[str, Callable[[pytest.FixtureRequest], Harness]] = {
    "listen": lambda request: InmemHarness(listen=True),
    "consume-once": lambda request: InmemHarness(listen=False),
}
