"""Sends the broker refused alone, back to the inputs that produced them, for the runner.

A producer reports a refused send (:class:`~streamprocessor.util.barrier.RefusedSend`)
long after ``send`` returned, so the runner no longer knows which input it came from.
Knowing it costs nothing per message: the refused send holds back every acknowledgement
made after it, so its input is among those not committed yet. Between two batches the
runner then

1. flushes its producers (every other send is settled; the acks they held are
   committed) and asks the consumer to hand out again everything not committed
   (``_rewind``: Kafka seeks back, as a nack does);
2. handles those inputs again one at a time, each one's outputs flushed before the next
   (isolating): an output refused now is this input's, and the error policy (retries,
   skip, dead-letter, stop) applies to the input as to an output refused in ``send``;
3. goes back to the normal way once all of them are handled.

With workers (``concurrency`` > 1) the consuming thread waits for them to finish what
they hold first, and does steps 1 and 2 itself.

So the outputs of the other inputs handled again are sent twice (at-least-once), and
come after later outputs of their partition. A consumer that cannot hand messages out
again (standard input, in-memory) stops the run with the refusal's error instead: the
inputs from there on are not acknowledged.
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from streamprocessor.clients.front import IDLE_HOOKS
from streamprocessor.runner.handler import DEFAULT_PRODUCER
from streamprocessor.stream import DeliveryError, InvalidMessageError, Message, Producer
from streamprocessor.stream.protocols import ReportsRefusals
from streamprocessor.util.barrier import RefusedSend

if TYPE_CHECKING:
    from streamprocessor.runner._lanes import Lane

__all__ = ["Refusals"]


class Refusals:
    """The refused sends of a serial runner's producers, and the inputs handled again."""

    def __init__(self, runner: Any, producers: Mapping[str, Producer]) -> None:
        # (``runner`` is the Runner that owns this: typed loosely, to keep the import
        # one way, engine → refusals)
        self._runner = runner
        #: refused sends not dealt with yet (appended from any thread)
        self._refused: deque[RefusedSend] = deque()
        #: whether the next batch goes through :meth:`take` (one check per batch)
        self.due = False
        self._again: Callable[[Message], bool] | None = None
        self._left = 0
        self._thread: int | None = None
        self._alone = {name: _Alone(p, self._refused) for name, p in producers.items()}
        dead = producers.get(runner.settings.dead_letter_producer)
        #: dead letters sent while isolating: flushed too (one refused stops the run)
        self._dl_send = runner._dl_send
        if dead is not None and runner._dl_send == dead.send:
            self._dl_send = self._alone[runner.settings.dead_letter_producer].send
        #: the producers that report refused sends
        self._refusing = [p for p in producers.values() if isinstance(p, ReportsRefusals)]
        for p in self._refusing:
            p.on_refused(self._report)

    def _report(self, refused: RefusedSend) -> None:
        self._refused.append(refused)
        self.due = True

    def start(self) -> None:
        """The run begins on this thread: rewind when input is idle, too (see _idle)."""
        self._thread = threading.get_ident()
        IDLE_HOOKS.append(self._idle)

    def stop(self) -> None:
        """The run ended."""
        with contextlib.suppress(ValueError):
            IDLE_HOOKS.remove(self._idle)

    def finish(self) -> None:
        """The input ended: deal with the refusals still to come (not after a stop)."""
        if not self._refusing or self._runner._source.halted:
            return  # (stopping: what they hold back is not committed, and comes again)
        for p in self._refusing:
            p.flush()
        if self._refused:
            self._rewind()  # (raises: a consumer whose input ends cannot rewind)

    def _idle(self) -> None:
        # A refusal reported while no more input comes would wait for the next batch; the
        # consumer runs this on the runner's thread before it waits, between two fetches
        if self._refused and threading.get_ident() == self._thread:
            self._rewind()

    def take(self, batch: list[Message], lane: Lane) -> None:
        """Deal with ``batch`` instead of the runner's normal loop (``due`` is true).

        With workers, on the consuming thread, the workers idle meanwhile.
        """
        if self._refused:
            self._rewind()  # (``batch`` comes again with the rest)
            return
        runner = self._runner
        source = runner._source
        handled = 0
        try:
            for msg in batch:
                if source.halted:
                    break
                lane.current = msg
                if self._again is not None and self._again(msg):
                    self._left -= 1
                    ok = self._handle_alone(msg, lane)
                else:
                    ok = runner._handle_one(msg, lane)
                if not ok:
                    break
                handled += 1
        finally:
            lane.n_in += handled
            runner._done_with(batch, handled, lane)
        if self._left <= 0:
            self._again = None
            self.due = bool(self._refused)

    def _rewind(self) -> None:
        runner = self._runner
        self._quiet()
        for p in runner.producers.values():
            p.flush()  # (the sends before are settled: the acks they held go on)
        first = self._refused[0]
        again = runner._source.rewind_uncommitted()
        if again is None:
            raise DeliveryError(
                f"{first.error}; the input it came from cannot be found again: this "
                f"consumer cannot hand messages out again, so the run stops here and the "
                "inputs from there on are not acknowledged"
            ) from first.error
        self._again, self._left = again
        while self._refused:  # their inputs come again, and their outputs are sent again
            self._refused.popleft().release()

    def _quiet(self) -> None:
        """Wait until every worker is done with what it was given (their acks are in)."""
        runner = self._runner
        if runner.settings.concurrency == 1:
            return
        marks = []
        for lane in runner.lanes:
            mark = threading.Event()
            lane.queue.put(mark)  # (a worker sets it when it gets there)
            marks.append(mark)
        for mark in marks:
            while not mark.wait(0.05):
                if runner._fatal is not None:
                    raise runner._fatal
        for lane in runner.lanes:  # (what they paused comes again: the workers take none)
            with lane.cond:
                paused, lane.paused = lane.paused, []
            if paused:
                runner._source.resume(paused)

    def _handle_alone(self, msg: Message, lane: Lane) -> bool:
        """Handle ``msg`` with every send flushed: a refusal is its output's."""
        runner = self._runner
        normal, default, dl_send = runner.producers, runner._default, runner._dl_send
        runner.producers = dict(self._alone)  # (send and flush)
        runner._default = self._alone.get(DEFAULT_PRODUCER)
        runner._dl_send = self._dl_send
        try:
            return bool(runner._handle_one(msg, lane))
        finally:
            runner.producers, runner._default, runner._dl_send = normal, default, dl_send


class _Alone:
    """A producer seen through ``send`` + ``flush``: a send refused alone raises."""

    def __init__(self, producer: Producer, refused: deque[RefusedSend]) -> None:
        self._producer = producer
        self._refused = refused

    def send(self, msg: Message) -> None:
        self._producer.send(msg)
        self._producer.flush()
        if self._refused:
            refused = list(self._refused)
            self._refused.clear()
            for r in refused:  # (the input is dealt with: retried, skipped, …, or kept)
                r.release()
            raise InvalidMessageError(str(refused[0].error)) from refused[0].error

    def flush(self, timeout: Any = None) -> None:
        self._producer.flush(timeout)
