"""The one consumer: iteration, batches, acks through the barrier, nack, stop and close.

A client type supplies a :class:`~streamprocessor.clients.ports.Source`; everything the
``Consumer`` and ``BatchConsumer`` protocols promise is kept here, once. Acks are taken in
bulk: ``ack`` appends to a list; the list is settled — committed through the source once
the ack barrier's marks of that moment are reached — before each fetch, by
``backlog()``, ``nack`` and ``close`` (and at each ack for a source that commits there).
The state is checked once per fetched batch on the iteration path; per message only the
``halted`` flag is read (by callers of ``batches()``) and, in ``ack``, ``_unusable``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from itertools import chain
from operator import attrgetter, length_hint
from typing import TYPE_CHECKING, Any, NoReturn

from streamprocessor.clients.front.client import ClientFront, State, run_idle_hooks
from streamprocessor.clients.ports import Commit, Source, SourceLink
from streamprocessor.stream.errors import ClientError, StreamProcessorError
from streamprocessor.stream.message import Message
from streamprocessor.util.barrier import DeliveryTracker, PendingAcks

if TYPE_CHECKING:
    from streamprocessor.config.models import ConsumerConfig

__all__ = ["ConsumerFront"]

#: messages iteration hands out per step of its generator (the rest are C iterator steps)
_CHUNK = 64
#: seconds a fetch waits for input before the state is looked at again
_WAIT = 0.2
_OPAQUE: Callable[[Message], Any] = attrgetter("_opaque")
_OFFSET: Callable[[Message], Any] = attrgetter("offset")
#: what ``ack`` does with an acknowledged message (``ConsumerFront._mode``)
_LATER, _NOW, _NOTHING, _REFUSE = 1, 2, 0, -1


class ConsumerFront(ClientFront["ConsumerConfig"]):
    """A consumer: the contract of ``stream.protocols.BatchConsumer`` over a source.

    ``make_source(front)`` builds the source; the front is its
    :class:`~streamprocessor.clients.ports.SourceLink`.
    """

    __slots__ = (
        "_buffer",
        "_commits",
        "_cur",
        "_cur_it",
        "_dropped",
        "_each_ack",
        "_iterating",
        "_key",
        "_mode",
        "_own",
        "_pending",
        "_settle_lock",
        "_source",
        "_unreachable",
        "_unreachable_logged",
        "halted",
        "on_interrupt",
    )

    kind = "consumer"

    def __init__(self, config: ConsumerConfig, make_source: Callable[[SourceLink], Source]) -> None:
        super().__init__(config)
        #: taken from the source, not handed out yet (a list: taken from in chunks)
        self._buffer: list[Message] = []
        #: no more messages are handed out (interrupt, close): read per message by callers
        #: of :meth:`batches`
        self.halted = False
        self._pending = PendingAcks()
        self._settle_lock = threading.Lock()
        self._iterating = 0
        #: acks dropped since last logged (a send before them failed for good)
        self._unreachable = 0
        self._unreachable_logged = float("-inf")
        #: the list iteration is handing out (taken from the buffer) and its iterator
        self._cur: list[Message] = []
        self._cur_it: Iterator[Message] = iter(self._cur)
        #: taken from the source and dropped unhanded (a stop): given back to the source
        self._dropped: list[Message] = []
        #: called (inside the signal handler) after an interrupt stopped this consumer:
        #: the async face wakes its event loop here
        self.on_interrupt: Callable[[], None] | None = None
        self._source: Source = make_source(self)
        #: the class of every message the source hands out (None: several, or unusable)
        self._own = self._source.message_type
        commits = self._source.commits
        self._each_ack = commits is Commit.EACH_ACK
        #: what is kept of an acknowledged message until it is committed: appended to
        #: the ``acks`` list of its ``_opaque`` (a partition's state, a consumer's lease)
        self._key: Callable[[Message], Any] | None = self._source.ack_key
        self._commits = commits is not Commit.NEVER
        #: what ``ack`` does (one look): keep the key for the next settle, commit it now,
        #: nothing — or refuse (the consumer is unusable)
        self._mode = _NOW if self._each_ack else _LATER if self._commits else _NOTHING
        self._register_interrupts()

    @property
    def owner(self) -> ConsumerFront:
        """The consumer itself: a source may make the front its messages' ``_opaque``."""
        return self

    def _entered(self, state: State) -> None:
        if state >= State.STOPPING:
            self.halted = True  # no message is handed out after a stop
        if state >= State.FAILED:
            self._own = None  # (acks take the slow path, which says why)
            self._mode = _REFUSE
        if state is State.FAILED:
            self._drop_buffered()

    # -- iteration ----------------------------------------------------------------------

    def __iter__(self) -> Iterator[Message]:
        return self.messages()

    def __aiter__(self) -> NoReturn:
        raise TypeError(self._not_async("async for", "for"))

    def messages(self) -> Iterator[Message]:
        """Return the iterator of messages; it ends at end of stream, close or interrupt."""
        if self._unusable:
            self._raise_pending()
            return iter(())  # (closed: iteration ends at once)
        # Each message is one step of C iterators (a chain over list iterators), not a
        # generator step: the generator below runs once per list.
        return chain.from_iterable(self._lists())

    def _lists(self) -> Iterator[Iterator[Message]]:
        """Yield iterators over the buffered messages, a list at a time.

        The list being handed out is ``_cur``; :meth:`_unhand` puts its rest back on the
        buffer (its iterator then ends), which is how nack, interrupt and close reach
        messages taken from the buffer but not handed out yet.
        """
        buf = self._buffer
        self._begin_iteration()
        first = True
        ending = False  # the source ended: hand out what is left (nacked ones too)
        try:
            while True:
                if buf:
                    cur = self._take_list(first)
                    first = False
                    yield self._cur_it
                    cur.clear()  # (all handed out, or put back)
                    continue
                if ending or self._state is not State.OPEN:
                    self._raise_pending()
                    return
                self._unhand()  # (another iterator's list: hand it out before fetching)
                if not buf and not self._fill():
                    ending = True
        finally:
            self._end_iteration()
            self._return_dropped()

    def _begin_iteration(self) -> None:
        """An iterator starts (sync or async): take back what an earlier one left."""
        self._unhand()  # (what an earlier iterator took and did not hand out)
        self._iterating += 1

    def _end_iteration(self) -> None:
        """An iterator ends; then the source hears what was dropped (``_return_dropped``)."""
        self._iterating -= 1
        self._unhand()

    def _take_list(self, first: bool) -> list[Message]:
        """Take the next list to hand out from the (non-empty) buffer (``_cur_it`` hands it out).

        The first list of an iterator is one message (``next(iter(c))`` takes one and
        leaves the rest), then chunks: the messages handed out are let go a chunk at a
        time (kept alive until the end of a whole fetched batch, they were promoted by
        the garbage collector).
        """
        buf = self._buffer
        n = 1 if first else _CHUNK
        cur = self._cur = buf[:n]
        del buf[:n]
        self._cur_it = iter(cur)
        if self.halted:  # (an interrupt came between the two lines above)
            self._drop_buffered()
        return cur

    def _unhand(self) -> None:
        """Put what iteration took from the buffer but did not hand out back in front.

        The iterator of the current list then ends at its next step, and iteration goes
        on from the buffer. Called before anything that looks at or changes the buffer
        while iteration may be under way (nack, drop, interrupt, close).
        """
        cur = self._cur
        if cur:
            pos = len(cur) - length_hint(self._cur_it)
            rest = cur[pos:]
            del cur[pos:]
            if rest:
                self._buffer[:0] = rest

    def batches(self) -> Iterator[list[Message]]:
        """Return the messages iteration would hand out, as the lists they are fetched in.

        No generator step per message. The caller handles the messages of a list in
        order, stops early when :attr:`halted` turns true (and gives back the rest with
        :meth:`give_back`), and acknowledges what it handled with :meth:`ack_batch`.
        Ends (or raises) like iteration.
        """
        if self._unusable:
            self._raise_pending()
            return iter(())  # (closed: iteration ends at once)
        return self._batch_loop()

    def _batch_loop(self) -> Iterator[list[Message]]:
        buf = self._buffer
        self._iterating += 1
        try:
            while True:
                if buf:
                    batch = buf[:]
                    buf.clear()  # (only this thread adds; an interrupt only clears)
                    yield batch
                    # the caller is done with it: free the messages before the next fetch
                    # (two batches alive at once would cross the garbage collector's
                    # threshold every time)
                    batch.clear()
                    continue
                if self._state is not State.OPEN:
                    self._raise_pending()
                    return
                if not self._fill():  # the end: what it added is the last batch
                    if buf:
                        batch = buf[:]
                        buf.clear()
                        yield batch
                    self._raise_pending()
                    return
        finally:
            self._iterating -= 1
            self._return_dropped()

    def _fill(self) -> bool:
        """Fetch into the buffer (waiting a bounded slice); False at the end of the stream."""
        if self._commits:
            self.settle()
        source = self._source
        try:
            got = source.fetch(0.0)
            if got is not None and not got:
                run_idle_hooks()  # about to wait: buffered producers write now
                if self._state is not State.OPEN:
                    return True
                got = source.fetch(_WAIT)
        except ClientError as exc:  # the source cannot go on (a bad line, a read error)
            run_idle_hooks()  # what was handled before it is written
            self.fail(exc)
            self._raise_pending()
            return False  # (manual error handling: it is on errors(); the stream ends)
        if got is None:
            run_idle_hooks()  # the end: what was handled is written now
            return False
        if got and self._state is State.OPEN:
            self._buffer += got
        elif got:
            self._dropped += got  # (stopped while fetching)
        return True

    @property
    def iterating(self) -> bool:
        """Whether a loop over this consumer is under way, or it is closing."""
        return self._iterating > 0 or self._state is State.CLOSING

    # -- the batch interface ------------------------------------------------------------

    def ack_batch(self, msgs: Sequence[Message]) -> None:
        """Acknowledge ``msgs`` (handled messages of one batch, in order).

        As ``ack`` of each in turn: they are committed together at the next settle.
        """
        if self._unusable:
            self._check("ack")
        if not msgs:
            return
        if not self._commits:
            # nothing is committed: the ends of the batch say whether it is ours
            self.ack(msgs[0])
            self.ack(msgs[-1])
            return
        key = self._key or _OFFSET
        try:
            ops = list(map(_OPAQUE, msgs))
            if ops.count(ops[0]) == len(ops):  # one partition, one stream: the usual
                op = ops[0]
                groups = [(op, list(map(key, msgs)))] if op.owner is self else []
            else:
                by: dict[Any, list[Any]] = {}
                for op, m in zip(ops, msgs, strict=True):
                    by.setdefault(op, []).append(key(m))
                groups = list(by.items()) if all(o.owner is self for o in by) else []
        except (AttributeError, TypeError):
            groups = []
        if not groups:
            for msg in msgs:  # one by one, to say which one is not ours
                self.ack(msg)
            return
        if self._each_ack:
            self._commit_now(groups)
            return
        for op, keys in groups:
            try:
                op.acks += keys
            except (AttributeError, TypeError):  # (a part given up: the source logs it)
                self._source.commit([(op, keys)])

    def give_back(self, msgs: Sequence[Message]) -> list[Message]:
        """Take back messages of a batch that were not handled (see ``BatchConsumer``).

        They stay unacknowledged. Returns those the caller must handle after all (then
        give back what of them it did not): standard input only, when handled lines
        follow them in a file.
        """
        return self._source.give_back(msgs)

    def pause(self, msgs: Sequence[Message]) -> list[object] | None:
        """Stop fetching from where ``msgs`` came from (Kafka: their partitions).

        For a caller that cannot keep up with part of the input (the runner's workers):
        returns what it newly paused, to give to :meth:`resume` (``[]`` when all was
        paused already), or ``None`` when this consumer cannot pause or pausing would stop
        every fetch. What was fetched already is still handed out; nothing is skipped.
        """
        return self._source.pause(msgs)

    def resume(self, paused: Sequence[object]) -> None:
        """Fetch again from what :meth:`pause` returned (any thread)."""
        self._source.resume(paused)

    def rewind_uncommitted(self) -> tuple[Callable[[Message], bool], int] | None:
        """Hand out again every message handed out and not committed yet, from the first.

        Acknowledgements still waiting for the barrier are dropped (what is committable
        is committed first). Returns ``(again, n)`` — which messages come again, and how
        many — or None when the source cannot (standard input, in memory).
        """
        if self._unusable:
            self._check("rewind")
        self.settle()
        self._pending.drop_all()
        for holder in self._source.ack_holders():
            del holder.acks[:]
        return self._source.rewind_all()

    # -- acks ---------------------------------------------------------------------------

    def ack(self, msg: Message) -> None:
        """Acknowledge ``msg``: committed once the sends made before it are delivered.

        Raises ClientClosedError on a closed consumer and ClientError for a message this
        consumer did not hand out.
        """
        # (``_own`` is None and ``_mode`` _REFUSE once the consumer is unusable: then
        # the slow path below says why)
        if msg.__class__ is self._own:
            op = msg._opaque
        else:
            try:
                op = msg._opaque
                if op.owner is not self:
                    op = None
            except AttributeError:
                op = None
        if op is not None:
            mode = self._mode
            if mode == _LATER:
                key = self._key
                try:
                    op.acks.append(msg.offset if key is None else key(msg))
                    return
                except AttributeError:  # a part given up (``acks`` None): the source logs it
                    self._source.commit([(op, [self._key_of(msg)])])
                    return
            if mode == _NOTHING:
                return
            if mode == _NOW:
                self._commit_now([(op, [self._key_of(msg)])])
                return
        if self._unusable:
            self._check("ack")
        raise self._foreign("acknowledge")

    def _key_of(self, msg: Message) -> Any:
        key = self._key
        return msg.offset if key is None else key(msg)

    def _commit_now(self, groups: list[tuple[Any, list[Any]]]) -> None:
        """Commit ``groups`` at once unless sends are undelivered (a committing source)."""
        marks = self._barrier.marks()
        if marks or self._pending:
            self._pending.add(marks, groups)
            self.settle()
            return
        self._source.commit(groups)

    def nack(self, msg: Message) -> None:
        """Refuse ``msg``: it is delivered again before later messages (see the source)."""
        if self._unusable:
            self._check("nack")
        try:
            mine = msg._opaque.owner is self
        except AttributeError:
            mine = False
        if not mine:
            raise self._foreign("nack")
        self._unhand()  # (the nacked message comes before those not handed out yet)
        self.settle()  # the acks made before this nack count first
        again = self._source.rewind(msg)
        if again is not None:
            self._buffer.insert(0, again)

    def _foreign(self, what: str) -> ClientError:
        return ClientError(
            f"cannot {what} a message this {self.client_type} consumer did not hand out "
            f"({what} the message object you got from iterating the consumer)"
        )

    def settle(self) -> None:
        """Commit the acknowledgements whose sends are delivered, oldest first.

        The acks taken now wait for the barrier's marks of this moment: every send made
        before any of them was made before now.
        """
        pending = self._pending
        with self._settle_lock:
            window = []
            for holder in self._source.ack_holders():
                acks = holder.acks
                if acks:
                    n = len(acks)
                    window.append((holder, acks[:n]))
                    del acks[:n]  # (acks appended meanwhile stay: only this takes them)
            if window:
                marks = self._barrier.marks()
                if not marks and not pending:
                    self._source.commit(window)
                    return
                pending.add(marks, window)
            if pending:
                dead = pending.drain(self._commit_windows)
                if dead:
                    self._report_unreachable(_count(dead))

    def _commit_windows(self, windows: list[list[tuple[Any, list[Any]]]]) -> None:
        commit = self._source.commit
        for window in windows:
            commit(window)

    def _report_unreachable(self, n: int) -> None:
        """Log acks dropped because a send before them failed for good (once a minute)."""
        self._unreachable += n
        now = time.monotonic()
        if now - self._unreachable_logged < 60.0:
            return
        self._log.error(
            "%d acknowledgement(s) will not be committed: a message sent before them was "
            "not delivered (see the producer's errors). The committed position stays before "
            "them; they are consumed again after a restart",
            self._unreachable,
        )
        self._unreachable = 0
        self._unreachable_logged = now

    def flush_barrier(self, timeout: float | None) -> None:
        """Flush the producers pending acks wait on, then commit what became ready."""
        self.settle()
        self._flush_trackers(self._pending.trackers(), timeout)
        self.settle()
        dropped = self._pending.drop_all()
        n = _count(dropped)
        if n:
            self._log.error(
                "%d acknowledgement(s) not committed: the messages sent before them were "
                "not delivered; they will be consumed again",
                n,
            )

    def _flush_trackers(self, trackers: list[DeliveryTracker], timeout: float | None) -> None:
        """Flush the producers behind ``trackers``; log (not raise) what fails."""
        for tracker in trackers:
            try:
                tracker.flush(timeout)
            except StreamProcessorError as exc:
                self._log.error(
                    "Could not flush producer %s before committing acknowledgements: %s",
                    tracker.name,
                    exc,
                )

    def backlog(self) -> int:
        """Return the number of messages not yet acknowledged (see the client's docs)."""
        if self._unusable:
            self._check("read the backlog")
        self.settle()
        return self._source.backlog()

    # -- buffer, stop and close ---------------------------------------------------------

    def drop(self, stale: Callable[[Message], bool]) -> None:
        """Forget buffered messages for which ``stale`` is true (a port calls this)."""
        self._unhand()
        buf = self._buffer
        keep = [m for m in buf if not stale(m)]
        if len(keep) != len(buf):
            buf[:] = keep

    def _drop_buffered(self) -> None:
        """Stop handing out what was taken from the source; keep it to give back.

        May run in a signal handler: list operations only. The messages are not
        acknowledged, so they come again.
        """
        cur = self._cur
        rest = cur[len(cur) - length_hint(self._cur_it) :] if cur else []
        cur.clear()  # (the current list's iterator ends at its next step)
        buf = self._buffer
        dropped = rest + buf
        buf.clear()
        if dropped:
            self._dropped += dropped

    def _return_dropped(self) -> None:
        """After a stop, tell the source what it dropped unhanded (not in a signal handler)."""
        if self._state is State.OPEN:
            return
        dropped = self._dropped
        msgs = dropped[:]
        del dropped[: len(msgs)]
        self._source.stopped(msgs)

    def interrupt(self) -> None:
        """Stop as on a first SIGTERM: hand out no new message; iteration then ends.

        What was taken from the source and not handed out is not acknowledged, so it
        comes again. Safe inside a signal handler and from any thread.
        """
        # runs inside the signal handler: only flags and atomic list operations here
        if self._enter(State.STOPPING):
            self._drop_buffered()
        self._source.wake()
        hook = self.on_interrupt
        if hook is not None:
            hook()

    def wake(self) -> None:
        """End a fetch that waits, soon (any thread; a signal handler too)."""
        self._source.wake()

    def unfinished(self) -> str:
        """Say what is not committed yet (for the shutdown timeout's message)."""
        n = _count(self._pending.tokens()) + sum(
            len(h.acks) for h in self._source.ack_holders() if h.acks
        )
        mine = f"{self.client_type} consumer has {n} uncommitted ack(s)" if n else ""
        return "; ".join(x for x in (mine, self._source.unfinished()) if x)

    def save_before_exit(self) -> None:
        """Let the source save what it can before the shutdown timeout ends the process."""
        self._drop_buffered()
        self._return_dropped()
        self._source.save_before_exit()

    def _close(self) -> None:
        self._drop_buffered()
        source = self._source
        source.wake()
        timeout = self.shutdown_timeout
        deadline = time.monotonic() + timeout
        try:
            self.flush_barrier(timeout)
        finally:
            self._return_dropped()
            source.close(max(deadline - time.monotonic(), 0.0))


def _count(windows: list[Any]) -> int:
    """How many acks the windows (lists of ``(holder, keys)``) hold."""
    return sum(len(keys) for window in windows for _, keys in window)
