"""Acknowledged positions per partition, over the offsets actually delivered.

IO-free. Offsets have gaps (compaction, transaction markers, aborted records), so "the
next offset after N" is unknowable; a :class:`PartitionState` remembers the offsets it
handed out, in order, and moves its position only over the acknowledged prefix of them.
Acknowledging N+1 before N therefore commits nothing; acknowledging N then commits both.

Delivered offsets are kept as runs ``[first, end)`` of consecutive offsets, so memory
grows with the number of gaps, not of messages: a consumer that never acknowledges
does not grow without bound.

A state belongs to one assignment of one partition (a *generation*): a rebalance that
takes the partition away marks the state revoked, and a later assignment makes a new
one. Messages carry their state as their opaque value, so an ack that arrives after the
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
        "acks",
        "last_take",
        "msg_type",
        "owner",
        "partition",
        "position",
        "revoked",
        "runs",
        "stored",
        "topic",
    )

    def __init__(self, owner: object, topic: str, partition: int) -> None:
        #: the consumer that owns this state (an ack by another consumer is refused)
        self.owner = owner
        self.topic = topic
        self.partition = partition
        #: offsets handed out and not yet passed by ``position``: runs ``[first, end)``
        self.runs: deque[list[int]] = deque()
        #: acknowledged offsets still behind an unacknowledged one
        self.acked: set[int] = set()
        #: offsets acknowledged since the front last took them (it hands them to the
        #: source in bulk); None once revoked
        self.acks: list[int] | None = []
        #: the offset after the acknowledged prefix (what to commit); None: nothing acked
        self.position: int | None = None
        #: the position last handed to librdkafka's offset store
        self.stored: int | None = None
        self.revoked = False
        #: the class of this partition's messages (set by the consumer's assignment)
        self.msg_type: type | None = None
        #: the offsets of the last batch the consumer took in one piece: consecutive, and
        #: the very objects its messages carry (see :meth:`ack_all`)
        self.last_take: list[int] = []

    def deliver(self, offset: int) -> None:
        """Record that ``offset`` is handed out (offsets arrive in increasing order)."""
        runs = self.runs
        if runs and runs[-1][1] == offset:
            runs[-1][1] = offset + 1
        else:
            runs.append([offset, offset + 1])

    def ack(self, offset: int) -> bool:
        """Acknowledge ``offset``; return True when the position moved."""
        runs = self.runs
        if not runs:
            return False
        head = runs[0]
        if head[0] == offset:
            self._pass(offset)
            acked = self.acked
            while acked and runs and runs[0][0] in acked:
                o = runs[0][0]
                acked.discard(o)
                self._pass(o)
            return True
        if head[0] < offset < runs[-1][1] and self._holds(offset):
            self.acked.add(offset)
        return False

    def ack_all(self, offsets: list[int]) -> None:
        """Acknowledge ``offsets`` in the order given.

        The usual case — they are the oldest outstanding offsets, in order — is one step.
        """
        runs = self.runs
        k = len(offsets)
        if runs and not self.acked and k:
            head = runs[0]
            first, end = head
            last = first + k
            # exactly ``first .. last - 1``? Usually the acks are the offsets of the batch
            # taken last, the same int objects: comparing them is an identity check each,
            # much cheaper than building the range
            if (
                offsets[0] == first
                and last <= end
                and (offsets == self.last_take or offsets == list(range(first, last)))
            ):
                if last == end:
                    runs.popleft()
                else:
                    head[0] = last
                self.position = last
                return
        for offset in offsets:
            if offset.__class__ is int:  # (a handler may have overwritten the field)
                self.ack(offset)

    def _pass(self, offset: int) -> None:
        """Move past ``offset``, the first outstanding one."""
        head = self.runs[0]
        head[0] = offset + 1
        if head[0] == head[1]:
            self.runs.popleft()
        self.position = offset + 1

    def _holds(self, offset: int) -> bool:
        return any(first <= offset < end for first, end in self.runs)

    def truncate(self, offset: int) -> None:
        """Forget the deliveries from ``offset`` on (they come again after a seek)."""
        runs = self.runs
        while runs and runs[-1][0] >= offset:
            runs.pop()
        if runs and runs[-1][1] > offset:
            runs[-1][1] = offset
        if self.acked:
            self.acked = {o for o in self.acked if o < offset}

    @property
    def first_unacked(self) -> int | None:
        """The oldest delivered offset not acknowledged yet (None when there is none)."""
        return self.runs[0][0] if self.runs else None

    @property
    def outstanding(self) -> int:
        """How many delivered offsets are not passed by the position yet."""
        return sum(end - first for first, end in self.runs)

    def __repr__(self) -> str:
        state = " revoked" if self.revoked else ""
        return (
            f"<PartitionState {self.topic}[{self.partition}] position={self.position} "
            f"outstanding={self.outstanding}{state}>"
        )
