"""In-memory consumer and producer on an :class:`~streamprocessor.stores.InmemStore`."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from streamprocessor.clients.base import ConsumerBase, ProducerBase
from streamprocessor.clients.validation import SentNames
from streamprocessor.stores.inmem import InmemStore, Snapshot, messages_from
from streamprocessor.stream.errors import ClientError
from streamprocessor.stream.message import Message

__all__ = ["InmemConsumer", "InmemProducer"]

_BATCH = 512
_WAIT_SLICE = 0.1  # seconds; bounds how long a listening consumer waits between checks


class InmemConsumer(ConsumerBase):
    """Consumer of an in-memory store (see the package docstring for its behaviour)."""

    client_type = "inmem"

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        store = config.inmem.store
        if not isinstance(store, InmemStore):
            raise ClientError(
                f"the in-memory consumer needs an InmemStore, got {type(store).__name__}: "
                "pass options.inmem_store(streamprocessor.stores.InmemStore())"
            )
        self._store = store
        self._once = bool(config.inmem.consume_once)
        # consume-once: the fixture read at start; entries are indexes into it
        self._fixture: list[Snapshot] = store.snapshots() if self._once else []
        self._next = 0
        # consume-once: one byte per fixture entry, 1 once acknowledged (cheaper than a set)
        self._acked = bytearray(len(self._fixture))
        self._n_acked = 0
        # listen mode: the highest entry id leased so far
        self._after = 0
        self._register_interrupts()

    def _fill(self) -> bool:
        if self._once:
            start = self._next
            fixture = self._fixture
            if start >= len(fixture):
                return False
            end = min(start + _BATCH, len(fixture))
            self._next = end
            self._buffer.extend(messages_from(fixture[start:end], self, start))
            return True
        got = self._store.lease(self, self._after, _BATCH, _WAIT_SLICE)
        if got and (self._closing or self._closed or self._stopping):
            # closed meanwhile: give them back, close() may already have released its leases
            self._store.release(self, [i for i, _ in got])
            return False
        if got:
            self._after = got[-1][0]
            self._buffer.extend(messages_from([snap], self, i)[0] for i, snap in got)
        return True

    def _wake(self) -> None:
        # never take the store lock here (we may be inside a signal handler); the listening
        # wait is sliced, so the flag is seen within _WAIT_SLICE
        pass

    def _token(self, msg: Message) -> int:
        op = getattr(msg, "_opaque", None)
        if op.__class__ is not tuple or op[0] is not self:
            raise ClientError(
                "cannot acknowledge a message this in-memory consumer did not hand out "
                "(ack/nack the message object you got from iterating the consumer)"
            )
        entry: int = op[1]
        return entry

    def ack(self, msg: Message) -> None:
        """Acknowledge ``msg`` (listen mode: it leaves the store once committed)."""
        if self._once:
            # the store is a fixture: nothing is committed, so the barrier has nothing to
            # guard; only the backlog count changes
            if self._closed or self._closing or self._failure is not None:
                self._check_open("ack")
            op = getattr(msg, "_opaque", None)
            if op.__class__ is tuple and op[0] is self:
                i = op[1]
                if not self._acked[i]:
                    self._acked[i] = 1
                    self._n_acked += 1
                return
            self._token(msg)  # raises the clear error
        super().ack(msg)

    def _commit(self, tokens: list[Any]) -> None:
        if self._once:
            for i in tokens:
                if not self._acked[i]:
                    self._acked[i] = 1
                    self._n_acked += 1
        else:
            self._store.remove_many(tokens)

    def _nack(self, msg: Message) -> None:
        entry = self._token(msg)
        if self._once:
            snap: Snapshot | None = self._fixture[entry]
        else:
            snap = self._store.get(entry)
        if snap is None:  # already acknowledged and gone
            return
        self._buffer.insert(0, messages_from([snap], self, entry)[0])

    def backlog(self) -> int:
        """Return the messages not yet acknowledged (listen mode: those in the store)."""
        if self._once:
            return len(self._fixture) - self._n_acked
        return len(self._store)

    def _close_impl(self) -> None:
        self._flush_barrier(self._shutdown_timeout)
        self._drop_buffered()
        if not self._once:
            # what was handed out but not acknowledged goes to the next consumer
            self._store.release(self)
            self._store.wake()
        self._fixture = []


class InmemProducer(ProducerBase):
    """Producer appending copies of messages to an in-memory store, in order."""

    client_type = "inmem"
    synchronous = True

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        store = config.inmem.store
        if not isinstance(store, InmemStore):
            raise ClientError(
                f"the in-memory producer needs an InmemStore, got {type(store).__name__}: "
                "pass options.inmem_store(streamprocessor.stores.InmemStore())"
            )
        self._store = store
        self._names = SentNames()
        self._register_interrupts()

    def send(self, msg: Message) -> None:
        """Append a copy of ``msg`` to the store."""
        if self._closed or self._closing or self._failure is not None:
            self._check_open("send")
        if (
            msg.__class__ is not Message
            or ((v := msg.value) is not None and v.__class__ is not bytes)
            or ((k := msg.key) is not None and k.__class__ is not bytes)
            or ((ts := msg.timestamp) is not None and ts.__class__ is not datetime)
            or msg.producer_topic
            or msg.tags
        ):
            self._names.check(msg)
        self._store.add(msg)

    def flush(self, timeout: float | timedelta | None = None) -> None:
        """Nothing to do: every send is stored at once (raises if closed)."""
        if self._closed or self._closing:
            self._check_open("flush")

    def _close_impl(self) -> None:
        pass
