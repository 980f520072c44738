"""Acknowledged positions per partition, over the offsets actually delivered.

IO-free. Offsets have gaps (compaction, transaction markers, aborted records), so "the
next offset after N" is unknowable; a :class:`PartitionState` remembers the offsets it
handed out, in order, and moves its position only over the acknowledged prefix of them.
Acknowledging N+1 before N therefore commits nothing; acknowledging N then commits both.

A state belongs to one assignment of one partition (a *generation*): a rebalance that
takes the partition away marks the state revoked, and a later assignment makes a new
one. Messages carry their state in their opaque value, so an ack that arrives after the
partition was revoked is recognised and ignored instead of committing into someone
else's assignment.
"""

from __future__ import annotations

from collections import deque

__all__ = ["PartitionState"]


class PartitionState:
    """Delivered and acknowledged offsets of one partition in one assignment generation."""

    __slots__ = (
        "acked",
        "delivered",
        "owner",
        "partition",
        "position",
        "revoked",
        "stored",
        "topic",
    )

    def __init__(self, owner: object, topic: str, partition: int) -> None:
        #: the consumer that owns this state (an ack by another consumer is refused)
        self.owner = owner
        self.topic = topic
        self.partition = partition
        #: offsets handed out (or buffered to be) and not yet covered by ``position``
        self.delivered: deque[int] = deque()
        #: acknowledged offsets still behind an unacknowledged one
        self.acked: set[int] = set()
        #: the offset after the acknowledged prefix (what to commit); None: nothing acked
        self.position: int | None = None
        #: the position last handed to librdkafka's offset store
        self.stored: int | None = None
        self.revoked = False

    def ack(self, offset: int) -> bool:
        """Acknowledge ``offset``; return True when the position moved."""
        d = self.delivered
        if not d:
            return False
        if d[0] == offset:
            d.popleft()
            pos = offset + 1
            acked = self.acked
            if acked:
                while d and d[0] in acked:
                    o = d.popleft()
                    acked.discard(o)
                    pos = o + 1
            self.position = pos
            return True
        if d[0] < offset <= d[-1]:
            self.acked.add(offset)
        return False

    def truncate(self, offset: int) -> None:
        """Forget the deliveries from ``offset`` on (they come again after a seek)."""
        d = self.delivered
        while d and d[-1] >= offset:
            d.pop()
        if self.acked:
            self.acked = {o for o in self.acked if o < offset}

    @property
    def first_unacked(self) -> int | None:
        """The oldest delivered offset not acknowledged yet (None when there is none)."""
        return self.delivered[0] if self.delivered else None

    def __repr__(self) -> str:
        state = " revoked" if self.revoked else ""
        return (
            f"<PartitionState {self.topic}[{self.partition}] position={self.position} "
            f"outstanding={len(self.delivered)}{state}>"
        )
