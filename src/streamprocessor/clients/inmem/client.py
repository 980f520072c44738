"""The in-memory source and sink, and the consumer and producer built on them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from streamprocessor.clients.front import ConsumerFront, ProducerFront
from streamprocessor.clients.ports import Commit, Nack, SinkLink, SourceLink
from streamprocessor.clients.validation import SentNames
from streamprocessor.stores.inmem import InmemStore, Snapshot
from streamprocessor.stream.errors import ClientError
from streamprocessor.stream.message import Message
from streamprocessor.util.barrier import DeliveryTracker, RefusedSend

if TYPE_CHECKING:
    from streamprocessor.config.models import ConsumerConfig, ProducerConfig

__all__ = ["InmemConsumer", "InmemProducer", "InmemSink", "InmemSource"]

_BATCH = 512
_ENTRY = attrgetter("_entry")


def _store_of(config: ConsumerConfig | ProducerConfig, kind: str) -> InmemStore:
    store = config.inmem.store
    if not isinstance(store, InmemStore):
        raise ClientError(
            f"the in-memory {kind} needs an InmemStore, got {type(store).__name__}: "
            "pass options.inmem_store(streamprocessor.stores.InmemStore())"
        )
    return store


class _Lease:
    """The opaque value of the messages one consumer hands out: says which consumer.

    ``acks`` holds the store entries acknowledged and not committed yet (the front's).
    """

    __slots__ = ("acks", "owner")

    def __init__(self, owner: object) -> None:
        self.owner = owner
        self.acks: list[int] = []


class _Entry(Message):
    """A message handed out by an in-memory consumer: it knows its store entry."""

    __slots__ = ("_entry",)

    _entry: int

    def copy(self) -> Message:
        """Return a copy that still acknowledges the same store entry."""
        c = type(self).__new__(type(self))
        for name in _FIELDS:
            setattr(c, name, getattr(self, name))
        c.tags = dict(self.tags)
        c._entry = self._entry
        return c


#: the fields a copy takes over (``_opaque`` is the class's)
_FIELDS = tuple(name for name in Message.__slots__ if name != "_opaque")


class InmemSource:
    """The store read once as a fixture, or listened to (see the package docstring)."""

    nack = Nack.REQUEUE
    ack_key: Callable[[Message], Any] | None = _ENTRY  # (the store entry)

    def __init__(self, config: ConsumerConfig, link: SourceLink) -> None:
        store = _store_of(config, "consumer")
        self._store = store
        self._once = bool(config.inmem.consume_once)
        #: listen mode: a message leaves the store when it is acknowledged; consume-once
        #: only counts acks (the fixture stays as it is), once per fetched batch
        self.commits = Commit.PER_BATCH if self._once else Commit.EACH_ACK
        #: the class of the messages handed out: its ``_opaque`` names the consumer
        self._lease = _Lease(link)
        self._type: type[_Entry] = type(
            "InmemMessage", (_Entry,), {"__slots__": (), "_opaque": self._lease}
        )
        self.message_type: type[Message] | None = self._type
        # consume-once: the fixture read at start; entries are indexes into it
        self._fixture: list[Snapshot] = store.snapshots() if self._once else []
        self._next = 0
        # consume-once: one byte per fixture entry, 1 once acknowledged (cheaper than a set)
        self._acked = bytearray(len(self._fixture))
        self._n_acked = 0
        # listen mode: the highest entry id leased so far
        self._after = 0
        self._closed = False

    def _messages(self, got: Iterable[tuple[int, Snapshot]]) -> list[Message]:
        cls = self._type
        new = cls.__new__
        out: list[Message] = []
        append = out.append
        for entry, snap in got:
            m = new(cls)
            m.value, m.key, m.timestamp, tags, m.consumer_topic, m.producer_topic, m.offset = (
                snap
            )
            m.tags = dict(tags) if tags else {}
            m.partition = None
            m._entry = entry
            append(m)
        return out

    def fetch(self, wait: float) -> list[Message] | None:
        """The next entries of the fixture (None after the last), or of the store."""
        if self._once:
            start = self._next
            fixture = self._fixture
            if start >= len(fixture):
                return None
            end = min(start + _BATCH, len(fixture))
            self._next = end
            return self._messages(zip(range(start, end), fixture[start:end], strict=True))
        got = self._store.lease(self, self._after, _BATCH, wait)
        if got and self._closed:
            # closed meanwhile: give them back, close() may already have released its leases
            self._store.release(self, [i for i, _ in got])
            return None
        if not got:
            return []
        self._after = got[-1][0]
        return self._messages(got)

    def ack_holders(self) -> list[_Lease]:
        """The lease of this consumer's messages (its ``acks``)."""
        return [self._lease]

    def commit(self, acked: list[tuple[Any, list[int]]]) -> None:
        """Listen mode: remove the entries from the store; consume-once: count them."""
        for _, entries in acked:
            if self._once:
                flags = self._acked
                n = 0
                for i in entries:
                    if not flags[i]:
                        flags[i] = 1
                        n += 1
                self._n_acked += n
            else:
                self._store.remove_many(entries)

    def rewind(self, msg: Message) -> Message | None:
        """A fresh copy of the entry, to hand out before the next message (None: gone)."""
        entry: int = msg._entry  # type: ignore[attr-defined]
        snap = self._fixture[entry] if self._once else self._store.get(entry)
        return None if snap is None else self._messages([(entry, snap)])[0]

    def backlog(self) -> int:
        """The messages not yet acknowledged (listen mode: those in the store)."""
        if self._once:
            return len(self._fixture) - self._n_acked
        return len(self._store)

    def wake(self) -> None:
        """Nothing: a listening wait is a slice of at most a fetch's wait."""
        # (never take the store lock here: we may be inside a signal handler)

    def pause(self, msgs: Sequence[Message]) -> list[object] | None:
        """Cannot pause: one stream."""
        return None

    def rewind_all(self) -> tuple[Callable[[Message], bool], int] | None:
        """Cannot: what was handed out is not kept."""
        return None

    def resume(self, paused: Sequence[object]) -> None:
        """Nothing was paused."""

    def give_back(self, msgs: Sequence[Message]) -> list[Message]:
        """Nothing to do: unacknowledged entries stay leased until close releases them."""
        return []

    def stopped(self, unhanded: Sequence[Message]) -> None:
        """Nothing to do: see :meth:`give_back`."""

    def close(self, timeout: float) -> None:
        """Listen mode: what was handed out and not acknowledged goes to the next consumer."""
        self._closed = True
        if not self._once:
            self._store.release(self)
            self._store.wake()
        self._fixture = []

    def unfinished(self) -> str:
        """Nothing: commits are immediate."""
        return ""

    def save_before_exit(self) -> None:
        """Nothing to save."""


class InmemSink:
    """Appends copies of messages to a store, in order; delivered within ``send``."""

    synchronous = True
    tracker: DeliveryTracker | None = None

    def __init__(self, config: ProducerConfig, link: SinkLink) -> None:
        self._store = _store_of(config, "producer")
        self._names = SentNames()

    def send(self, msg: Message) -> None:
        """Append a copy of ``msg`` to the store."""
        if (
            msg.__class__ is not Message
            or ((v := msg.value) is not None and v.__class__ is not bytes)
            or ((k := msg.key) is not None and k.__class__ is not bytes)
            or ((ts := msg.timestamp) is not None and ts.__class__ is not datetime)
            or msg.producer_topic
            or msg.tags
        ):
            self._names.check(msg)  # (every field: InvalidMessageError, nothing stored)
        self._store.add(msg)

    def flush(self, timeout: float | None) -> None:
        """Nothing to do: every send is stored at once."""

    def on_refused(self, callback: Callable[[RefusedSend], None] | None) -> None:
        """Nothing to register: a send is refused in ``send`` or not at all."""

    def close(self, timeout: float) -> None:
        """Nothing to let go."""

    def unfinished(self) -> str:
        """Nothing: sends are stored at once."""
        return ""

    def save_before_exit(self) -> None:
        """Nothing to save."""


class InmemConsumer(ConsumerFront):
    """Consumer of an in-memory store (see the package docstring for its behaviour)."""

    client_type = "inmem"

    def __init__(self, config: ConsumerConfig) -> None:
        super().__init__(config, lambda link: InmemSource(config, link))


class InmemProducer(ProducerFront):
    """Producer appending copies of messages to an in-memory store, in order."""

    client_type = "inmem"

    def __init__(self, config: ProducerConfig) -> None:
        super().__init__(config, lambda link: InmemSink(config, link))
