"""``InmemStore``: an ordered, thread-safe message store that keeps copies."""

from __future__ import annotations

import threading
from bisect import bisect_right
from collections.abc import Hashable, Sequence
from datetime import datetime
from typing import Any

from streamprocessor.stream.message import Message

__all__ = [
    "InmemStore",
    "Snapshot",
    "default_store",
    "message_from",
    "messages_from",
    "snapshot_of",
]

# A stored message is a tuple of immutable values (bytes, str, int, datetime and a tuple of
# tag items), so the store never shares a mutable object with its users and the cyclic GC
# can untrack it.
Snapshot = tuple[
    bytes | None,
    bytes | None,
    datetime | None,
    tuple[tuple[str, bytes], ...],
    str,
    str,
    int | None,
]


def snapshot_of(msg: Message) -> Snapshot:
    """Return the immutable stored form of ``msg``."""
    tags = msg.tags
    return (
        msg.value,
        msg.key,
        msg.timestamp,
        tuple(tags.items()) if tags else (),
        msg.consumer_topic,
        msg.producer_topic,
        msg.offset,
    )


def message_from(s: Snapshot) -> Message:
    """Return a new message built from a stored snapshot (no opaque)."""
    return messages_from([s])[0]


def messages_from(snaps: Sequence[Snapshot], owner: Any = None, first: int = 0) -> list[Message]:
    """Return new messages built from stored snapshots, in one pass.

    With an ``owner`` (a consumer), the opaque value of the i-th message is
    ``(owner, first + i)``: the entry it was leased as; else it has none.
    """
    new = Message.__new__
    out: list[Message] = []
    append = out.append
    for i, s in enumerate(snaps, first):
        m = new(Message)
        m.value, m.key, m.timestamp, tags, m.consumer_topic, m.producer_topic, m.offset = s
        m.tags = dict(tags) if tags else {}
        m.partition = None
        m._opaque = None if owner is None else (owner, i)
        append(m)
    return out


class InmemStore:
    """An in-memory store of messages, in insertion order, safe for concurrent use.

    It keeps copies: changing a message after ``add``, or a message read from the store,
    never changes what is stored. ``delete`` removes one stored message equal to the given
    one (of two identical messages, one stays).

    Beyond the :class:`~streamprocessor.stream.Store` protocol the store offers what the
    in-memory client needs to honour the consumer contract without polling: numbered
    entries, leases (a message handed out by a listening consumer is not handed to another
    until released) and a condition to wait on for new messages.
    """

    def __init__(self) -> None:
        # one lock; the condition shares it (``with self._lock`` is cheaper than the
        # condition's Python-level __enter__ on the hot path)
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._items: dict[int, Snapshot] = {}
        self._order: list[int] = []  # ids in insertion order; may hold removed ids
        self._next_id = 1
        self._leases: dict[int, Hashable] = {}
        self._waiting = 0

    # -- the Store protocol -------------------------------------------------------------

    def add(self, msg: Message) -> None:
        """Append a copy of ``msg`` and wake up consumers waiting for messages."""
        tags = msg.tags
        snap = (
            msg.value,
            msg.key,
            msg.timestamp,
            tuple(tags.items()) if tags else (),
            msg.consumer_topic,
            msg.producer_topic,
            msg.offset,
        )
        with self._lock:
            i = self._next_id
            self._next_id = i + 1
            self._items[i] = snap
            self._order.append(i)
            if self._waiting:
                self._cond.notify_all()

    def add_many(self, msgs: list[Message]) -> None:
        """Append copies of ``msgs`` in order, under one lock."""
        snaps = [snapshot_of(m) for m in msgs]
        with self._cond:
            i = self._next_id
            for snap in snaps:
                self._items[i] = snap
                self._order.append(i)
                i += 1
            self._next_id = i
            self._cond.notify_all()

    def delete(self, msg: Message) -> None:
        """Remove the first stored message equal to ``msg``; no match changes nothing."""
        snap = snapshot_of(msg)
        with self._cond:
            for i, s in self._items.items():
                if s == snap:
                    self._drop(i)
                    return

    def flush(self) -> None:
        """Remove every message."""
        with self._cond:
            self._items.clear()
            self._order.clear()
            self._leases.clear()

    def messages(self) -> list[Message]:
        """Return copies of the stored messages, in insertion order."""
        with self._cond:
            snaps = list(self._items.values())
        return messages_from(snaps)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"<InmemStore {len(self._items)} messages>"

    # -- for the in-memory client -------------------------------------------------------

    def snapshots(self) -> list[Snapshot]:
        """Return the stored snapshots in order (the consume-once client reads these)."""
        with self._cond:
            return list(self._items.values())

    def lease(
        self, owner: Hashable, after: int, limit: int, timeout: float | None
    ) -> list[tuple[int, Snapshot]]:
        """Lease up to ``limit`` unleased entries with an id above ``after``, in order.

        Waits up to ``timeout`` seconds (``None``: forever) for at least one; returns an
        empty list when none came. Leased entries are handed to no other owner until
        :meth:`release` or :meth:`remove`.
        """
        with self._cond:
            got = self._collect(owner, after, limit)
            if not got and timeout != 0:
                self._waiting += 1
                try:
                    self._cond.wait(timeout)
                finally:
                    self._waiting -= 1
                got = self._collect(owner, after, limit)
            return got

    def _collect(self, owner: Hashable, after: int, limit: int) -> list[tuple[int, Snapshot]]:
        order = self._order
        items = self._items
        leases = self._leases
        out: list[tuple[int, Snapshot]] = []
        for pos in range(bisect_right(order, after), len(order)):
            i = order[pos]
            snap = items.get(i)
            if snap is None or i in leases:
                continue
            leases[i] = owner
            out.append((i, snap))
            if len(out) >= limit:
                break
        return out

    def get(self, entry_id: int) -> Snapshot | None:
        """Return the snapshot of entry ``entry_id`` (``None`` once removed)."""
        with self._cond:
            return self._items.get(entry_id)

    def remove(self, entry_id: int) -> None:
        """Remove the entry ``entry_id`` (an acknowledged message); unknown ids are ignored."""
        with self._cond:
            self._drop(entry_id)

    def remove_many(self, entry_ids: list[int]) -> None:
        """Remove several entries under one lock."""
        with self._cond:
            for i in entry_ids:
                self._drop(i)

    def release(self, owner: Hashable, entry_ids: list[int] | None = None) -> None:
        """Give back leases of ``owner`` (all of them when ``entry_ids`` is None)."""
        with self._cond:
            if entry_ids is None:
                for i in [i for i, o in self._leases.items() if o == owner]:
                    del self._leases[i]
            else:
                for i in entry_ids:
                    if self._leases.get(i) == owner:
                        del self._leases[i]
            self._cond.notify_all()

    def wake(self) -> None:
        """Wake every waiting consumer (used on close and on interrupts)."""
        with self._cond:
            self._cond.notify_all()

    def _drop(self, i: int) -> None:
        if self._items.pop(i, None) is not None:
            self._leases.pop(i, None)
            # compact the order list once it is mostly removed ids
            if len(self._order) > 64 and len(self._order) > 2 * len(self._items):
                self._order = [j for j in self._order if j in self._items]


_DEFAULT: InmemStore | None = None
_DEFAULT_LOCK = threading.Lock()


def default_store() -> InmemStore:
    """Return the process-wide store used by in-memory clients given no store.

    Consumers and producers share it (the original had two different hidden singletons,
    so a default producer and consumer never met).
    """
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = InmemStore()
        return _DEFAULT
