"""The consume → handle → produce → ack loop, with error policies and concurrency.

At-least-once rests on the consumer's ack barrier: ``consumer.ack(msg)`` is committed only
after every message sent before it, on every open producer, is delivered. So the loop is
``handle → send every output → ack``, and an input whose handler failed (and was neither
skipped nor dead-lettered) is never acknowledged.

With ``concurrency`` N > 1 the consuming thread hands each message to one of N workers,
chosen by its Kafka partition (else by its key; keyless messages go round robin), through
bounded queues; workers handle, send and acknowledge themselves. Acks then complete out
of order, which the consumers handle (a committed position covers only an acknowledged
prefix).
"""

from __future__ import annotations

import gc
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from streamprocessor.runner._lanes import Lane, partition_of
from streamprocessor.runner._onebyone import OneByOne
from streamprocessor.runner._refusals import Refusals
from streamprocessor.runner._watchdog import StuckWatchdog, close_quietly, handler_limit
from streamprocessor.runner.handler import (
    DEFAULT_PRODUCER,
    Handler,
    HandlerFailedError,
    HandlerOutputError,
    dead_letter,
    describe,
    output_error,
    outputs,
)
from streamprocessor.runner.settings import RunnerSettings
from streamprocessor.stream import (
    BatchConsumer,
    Consumer,
    InvalidMessageError,
    Message,
    Producer,
)
from streamprocessor.stream.protocols import has_batches
from streamprocessor.util.interrupts import COORDINATOR, ShutdownCoordinator

if TYPE_CHECKING:
    pass

__all__ = ["Lane", "Runner", "partition_of"]

_log = logging.getLogger("streamprocessor.runner")
_STOP = object()
#: a full lane with this much work waiting (seconds, at its recent pace) has its sources
#: paused rather than waited for; a lane that catches up sooner is waited for
_PAUSE_BACKLOG = 1.0
#: ... and resumed when down to this much: the first fetch after a resume may take up to
#: librdkafka's ``fetch.wait.max.ms`` (500 ms by default), so the worker keeps busy meanwhile
_RESUME_BACKLOG = 0.5
#: Python 3.12 starts with its static types' base tuples (immortal) frozen: frozen by no
#: program, they do not keep a run from freezing (its unfreeze puts them back with the rest)
_INTERPRETER_FROZEN = gc.get_freeze_count() if sys.version_info[:2] == (3, 12) else 0


def _output_error(result: Message, refused: InvalidMessageError) -> Exception:
    """The handler failure for an output a producer refused (nothing of it was sent).

    The runner's own words for a field no producer can send, else the producer's.
    """
    return output_error(result) or refused


class Runner:
    """Run ``handler`` over ``consumer``, sending results to ``producers``.

    ``producers`` maps names to producers; ``"producer"`` is the default one that bare
    messages go to; ``dead_letters`` (a ``send``) replaces the dead-letter producer named
    in the settings; ``coordinator`` is the one the clients were given
    (``options.interrupt_coordinator``; default: the process-wide one). A consumer that is a
    ``BatchConsumer`` is handled a fetched batch at a time (pausing included); any other
    ``Consumer`` one message at a time. ``handler=None`` forwards every message unchanged
    (``pipe``). The clients stay the caller's: the runner neither opens nor closes them
    (except to save what it can before the stuck-handler watchdog ends the process).
    """

    def __init__(
        self,
        consumer: Consumer,
        producers: Mapping[str, Producer],
        handler: Handler | None = None,
        settings: RunnerSettings | None = None,
        *,
        dead_letters: Callable[[Message], None] | None = None,
        coordinator: ShutdownCoordinator | None = None,
        exit: Callable[[int], None] = os._exit,  # replaced in tests
    ) -> None:
        self.consumer = consumer
        #: the consumer through its batch interface (a plain Consumer: one at a time)
        self._source: BatchConsumer = (
            consumer if has_batches(consumer) else OneByOne(consumer)
        )
        #: the interrupt coordinator the clients registered with
        self._coordinator = coordinator or COORDINATOR
        self.producers = dict(producers)
        self.handler = handler
        self.settings = settings or RunnerSettings()
        self._default = self.producers.get(DEFAULT_PRODUCER)
        self._exit = exit
        self._fatal: BaseException | None = None
        self._fatal_lock = threading.Lock()
        self._done = threading.Event()
        n = self.settings.concurrency
        self.lanes = [Lane(i) for i in range(n)]
        self._main = Lane(-1) if n > 1 else self.lanes[0]
        self._rr = 0
        self._partition_lanes: dict[tuple[str, int], int] = {}
        #: a worker asked its consumer to resume its partitions (done at the next fetch)
        self._resume_asked = threading.Event()
        s = self.settings
        #: sends a dead letter
        self._dl_send = dead_letters
        if s.on_error == "dead-letter" and dead_letters is None:
            dl_producer = self.producers.get(s.dead_letter_producer)
            if dl_producer is None:
                raise HandlerOutputError(
                    f"the dead-letter policy needs a producer named {s.dead_letter_producer!r}"
                )
            self._dl_send = dl_producer.send
        if handler is None and self._default is None:
            raise HandlerOutputError("forwarding messages needs a default producer")
        #: sends the broker refused alone, back to their inputs
        self._refusals = Refusals(self, self.producers)

    # -- statistics -------------------------------------------------------------------

    def totals(self) -> dict[str, int]:
        """Return the counts so far: in, out, errors, skipped, dead_letters."""
        lanes = list(self.lanes) + ([self._main] if self._main not in self.lanes else [])
        return {
            "in": sum(la.n_in for la in lanes),
            "out": sum(la.n_out for la in lanes),
            "errors": sum(la.n_errors for la in lanes),
            "skipped": sum(la.n_skipped for la in lanes),
            "dead_letters": sum(la.n_dead for la in lanes),
        }

    # -- running ----------------------------------------------------------------------

    def run(self) -> None:
        """Consume until the stream ends or a signal stops it.

        Raises :class:`HandlerFailedError` when the handler fails under the ``stop``
        policy, and the client's error when a client fails; the message in question is
        not acknowledged.
        """
        limit = handler_limit(self.consumer, self.handler is not None, self.settings)
        if limit:
            StuckWatchdog(self.lanes, limit, self._done, self._clients, self._exit).start()
        frozen = self.settings.freeze_gc and gc.get_freeze_count() in (0, _INTERPRETER_FROZEN)
        if frozen:
            gc.freeze()
        thresholds = gc.get_threshold()
        if self.settings.gc_threshold is not None:
            gc.set_threshold(self.settings.gc_threshold, *thresholds[1:])
        self._coordinator.exit_hooks.append(self._give_back_in_hand)
        self._refusals.start()
        try:
            if self.settings.concurrency == 1:
                if self.handler is None:
                    self._forward()
                else:
                    self._serial(self.handler)
            else:
                self._parallel()
            self._refusals.finish()
        finally:
            self._done.set()
            self._refusals.stop()
            self._coordinator.exit_hooks.remove(self._give_back_in_hand)
            gc.set_threshold(*thresholds)
            if frozen:
                gc.unfreeze()
        if self._fatal is not None:
            raise self._fatal

    def _forward(self) -> None:
        lane = self.lanes[0]
        consumer = self._source
        assert self._default is not None
        send = self._default.send
        refusals = self._refusals
        for batch in consumer.batches():
            if refusals.due:
                refusals.take(batch, lane)
                continue
            lane.batch = batch
            handled = 0
            try:
                for msg in batch:
                    if consumer.halted:
                        break
                    try:
                        send(msg)
                    except InvalidMessageError as exc:
                        raise _unforwardable(msg, exc) from exc
                    handled += 1
            finally:
                lane.n_in += handled
                lane.n_out += handled
                self._done_with(batch, handled, lane)

    def _serial(self, handler: Handler) -> None:
        """Handle the consumer's batches in order; ack what was handled after each.

        The lane's counters are updated at the end of each batch (local counts are
        cheaper per message); the statistics lag by at most one batch.
        """
        lane = self.lanes[0]
        consumer = self._source
        default = self._default
        send = default.send if default is not None else None
        refusals = self._refusals
        for batch in consumer.batches():
            if refusals.due:
                refusals.take(batch, lane)
                continue
            lane.batch = batch
            handled = out = 0  # (the first ``handled`` of the batch: acknowledged at its end)
            try:
                for msg in batch:
                    if consumer.halted:
                        break
                    lane.current = msg
                    try:
                        result = handler(msg)
                    except Exception as exc:
                        ok = self._failed(msg, exc, lane)
                    else:
                        if result is None:
                            handled += 1
                            continue
                        if send is not None and isinstance(result, Message):
                            try:
                                send(result)
                            except InvalidMessageError as exc:  # nothing was sent
                                ok = self._failed(msg, _output_error(result, exc), lane)
                            else:
                                out += 1
                                handled += 1
                                continue
                        else:
                            ok = self._finish(msg, result, lane)
                    if not ok:  # shutting down during a retry: not handled
                        break
                    handled += 1
            finally:
                lane.n_in += handled
                lane.n_out += out
                self._done_with(batch, handled, lane)

    def _done_with(self, batch: list[Message], k: int, lane: Lane) -> None:
        """Acknowledge the first ``k`` messages of ``batch`` (all handled); give back the rest."""
        lane.current = None
        if k < len(batch):  # stopping or failing
            self._source.give_back(batch[k:])
        if not k:
            return
        done = batch if k == len(batch) else batch[:k]
        if sys.exc_info()[1] is None:
            self._source.ack_batch(done)
            return
        try:  # already failing: ack what was handled, keep the first error
            self._source.ack_batch(done)
        except Exception as exc:
            _log.error("Could not acknowledge %d handled message(s): %s", k, exc)

    def _parallel(self) -> None:
        """Hand each fetched batch to the workers, per lane, in chunks of ``queue_size``."""
        n = len(self.lanes)
        size = self.settings.queue_size
        workers = [
            threading.Thread(target=self._work, args=(lane,), name=f"sp-worker-{lane.index}")
            for lane in self.lanes
        ]
        for w in workers:
            w.start()
        main = self._main
        lane_of = self._lane_of
        source = self._source
        refusals = self._refusals
        try:
            for batch in source.batches():
                if refusals.due:
                    refusals.take(batch, main)
                    continue
                per_lane: dict[int, list[Message]] = {}
                for pos, msg in enumerate(batch):
                    if source.halted:  # stopping: the rest stays unacknowledged
                        main.left.extend(batch[pos:])
                        for unsent in per_lane.values():
                            main.left.extend(unsent)
                        per_lane.clear()
                        break
                    main.n_in += 1
                    i = lane_of(msg, n)
                    chunk = per_lane.get(i)
                    if chunk is None:
                        chunk = per_lane[i] = []
                    chunk.append(msg)
                    if len(chunk) == size:  # a full chunk goes now
                        del per_lane[i]
                        self._offer(self.lanes[i], chunk)
                for i, chunk in per_lane.items():
                    self._offer(self.lanes[i], chunk)
                if not self._make_room():
                    break
        except BaseException as exc:
            self._set_fatal(exc)
            raise
        finally:
            for lane in self.lanes:
                lane.queue.put(_STOP)
            for w in workers:
                w.join()
            self._give_back_left()

    def _give_back_left(self) -> None:
        """Give back what the workers did not handle; handle what the consumer cannot take.

        Standard input positions a file at the first line not handled, so lines handled
        after one left unhandled would be read again: those are handled here first.
        """
        left = [m for lane in (self._main, *self.lanes) for m in lane.left]
        if not left:
            return
        owed = self._source.give_back(left)
        if not owed or self._fatal is not None:
            return
        main = self._main
        main.left = []
        self._work_chunk(main, owed, halt=False)
        self._source.give_back(main.left)  # (the others are handled now)

    def _offer(self, lane: Lane, chunk: list[Message]) -> None:
        """Queue ``chunk`` for ``lane``'s worker (room is made per batch: _make_room)."""
        with lane.cond:
            lane.queue.put(chunk)
            lane.waiting += len(chunk)
            lane.last = chunk

    def _make_room(self) -> bool:
        """Before the next fetch, wait until no lane has twice ``queue_size`` waiting.

        A full lane that would take a while to catch up does not hold up the others: the
        consumer is asked to pause the sources of its messages (Kafka: their partitions;
        resumed once the lane is down to ``_RESUME_BACKLOG`` of work or ``queue_size``
        messages, see ``_work``) and fetching goes on (see :meth:`_worth_pausing`).
        Otherwise, or with a consumer that cannot pause, this waits (back-pressure),
        unless a worker asked for its partitions back: the next fetch resumes them. False
        when the run fails.
        """
        high = 2 * self.settings.queue_size
        for lane in self.lanes:
            with lane.cond:
                since = time.monotonic()
                while lane.waiting >= high:
                    if self._fatal is not None:
                        return False
                    # (once a lane has paused sources, whatever else came is paused too;
                    # a lane that catches up quickly is waited for: a pause costs a fetch)
                    if lane.paused or self._worth_pausing(lane, time.monotonic() - since):
                        paused = self._source.pause(lane.last)
                        if paused is not None:
                            lane.paused.extend(paused)
                            break
                    if self._resume_asked.is_set():
                        break  # a worker waits for its partitions: fetch now (see _work)
                    lane.cond.wait(0.02)
        self._resume_asked.clear()  # (the fetch that follows resumes them)
        return self._fatal is None

    def _worth_pausing(self, lane: Lane, waited: float) -> bool:
        """Return whether fetching on without ``lane``'s sources beats waiting for it.

        When ``lane`` has ``_PAUSE_BACKLOG`` or more to do: at its recent pace, or because
        another worker sits idle after waiting that long for it (a stuck handler). (The
        consumer refuses to pause when nothing else would be fetched: see ``pause``.)
        """
        if lane.waiting * lane.per_msg >= _PAUSE_BACKLOG:
            return True
        return waited >= _PAUSE_BACKLOG and any(
            o is not lane and o.waiting == 0 and o.current is None for o in self.lanes
        )

    def _lane_of(self, msg: Message, n: int) -> int:
        part = partition_of(msg)
        if part is not None:
            # partitions take the lanes in turn as they first appear: no two share a
            # worker while there are more workers than partitions
            lanes = self._partition_lanes
            tp = (msg.consumer_topic, part)
            lane = lanes.get(tp)
            if lane is None:
                lane = lanes[tp] = len(lanes) % n
            return lane
        if msg.key is not None:
            return hash(msg.key) % n
        self._rr = (self._rr + 1) % n
        return self._rr

    def _work(self, lane: Lane) -> None:
        q = lane.queue
        source = self._source
        low = self.settings.queue_size
        assert self.handler is not None or self._default is not None
        while True:
            chunk = q.get()
            if chunk is _STOP:
                return
            if chunk.__class__ is threading.Event:  # (done with what came before: say so)
                chunk.set()
                continue
            with lane.cond:
                lane.waiting -= len(chunk)
                lane.cond.notify()
                if lane.paused and (
                    lane.waiting <= low or lane.waiting * lane.per_msg <= _RESUME_BACKLOG
                ):
                    # (under the lock: _make_room pauses under it: no pause is left over)
                    paused, lane.paused = lane.paused, []
                    source.resume(paused)
                    self._resume_asked.set()
            started = time.monotonic()
            self._work_chunk(lane, chunk)
            lane.per_msg = (time.monotonic() - started) / len(chunk)

    def _work_chunk(self, lane: Lane, chunk: list[Message], halt: bool = True) -> None:
        """Handle, send and acknowledge each message; what is not handled goes to ``left``.

        Ends early on a failure, and (``halt``) when the consumer stops.
        """
        ack = self.consumer.ack
        source = self._source
        for msg in chunk:
            if self._fatal is not None or (halt and source.halted):
                # stopping: the rest stays unacknowledged (consumed again; given back)
                lane.left.extend(chunk[_index(chunk, msg):])
                break
            try:
                lane.current = msg
                ok = self._handle_one(msg, lane)
                lane.current = None
                if not ok:
                    lane.left.append(msg)
                    continue
                ack(msg)
            except BaseException as exc:
                lane.current = None
                lane.left.append(msg)
                self._set_fatal(exc)

    def _set_fatal(self, exc: BaseException) -> None:
        with self._fatal_lock:
            if self._fatal is not None:
                return
            self._fatal = exc
        # the consuming thread may wait for input that never comes: once the workers
        # have finished the messages in hand, close the consumer to end its iteration
        threading.Thread(target=self._close_consumer_when_idle, daemon=True,
                         name="sp-stop-after-failure").start()

    def _close_consumer_when_idle(self) -> None:
        deadline = time.monotonic() + 10.0
        while any(la.current is not None for la in self.lanes) and not self._done.is_set():
            if time.monotonic() > deadline:
                break
            time.sleep(0.01)
        if not self._done.is_set():
            close_quietly(self.consumer)

    def _give_back_in_hand(self) -> None:
        """Exit hook: the shutdown timeout ends the process; give back what is unfinished.

        One worker only: the message in hand and those after it in its batch (with more
        workers, what they hold is not known here; the consumer assumes them handled).
        """
        lane = self.lanes[0]
        cur, batch = lane.current, lane.batch
        if len(self.lanes) == 1 and cur is not None and batch:
            i = next((i for i, m in enumerate(batch) if m is cur), None)
            if i is not None:
                self._source.give_back(batch[i:])

    def _clients(self) -> list[Any]:
        return [self.consumer, *self.producers.values()]

    # -- handling and policies --------------------------------------------------------

    def _handle_one(self, msg: Message, lane: Lane) -> bool:
        """Handle ``msg`` (without a handler: forward it); see ``_handle``."""
        if self.handler is not None:
            return self._handle(msg, lane)
        assert self._default is not None
        try:
            self._default.send(msg)
        except InvalidMessageError as exc:
            raise _unforwardable(msg, exc) from exc
        lane.n_out += 1
        return True

    def _handle(self, msg: Message, lane: Lane) -> bool:
        """Handle ``msg`` and send its outputs, under the error policy (see ``_finish``)."""
        assert self.handler is not None
        try:
            result = self.handler(msg)
        except Exception as exc:
            return self._failed(msg, exc, lane)
        return self._finish(msg, result, lane)

    def _finish(self, msg: Message, result: object, lane: Lane) -> bool:
        """Send the handler's ``result`` for ``msg``; a failure goes through the policy.

        A bad result and an output a producer refuses (InvalidMessageError: too large, an
        invalid topic, …) are the handler's failure. False: leave ``msg`` unacknowledged.
        """
        try:
            pairs = self._resolve(result)  # runs a generator to its end
        except Exception as exc:
            return self._failed(msg, exc, lane)
        try:
            self._send(pairs, lane)
        except InvalidMessageError as exc:
            return self._failed(msg, exc, lane)
        return True

    @staticmethod
    def _send(pairs: list[tuple[Producer, Message]], lane: Lane) -> None:
        """Send the outputs in order (those before one a producer refuses stay sent)."""
        for producer, out in pairs:
            producer.send(out)
            lane.n_out += 1

    def _resolve(self, result: object) -> list[tuple[Producer, Message]]:
        pairs = []
        for name, out in outputs(result):
            producer = self.producers.get(name)
            if producer is None:
                known = ", ".join(sorted(self.producers)) or "none"
                raise HandlerOutputError(
                    f"the handler routed a message to producer {name!r}, which is not "
                    f"configured (add --producer {name}; configured: {known})"
                )
            pairs.append((producer, out))
        return pairs

    def _failed(self, msg: Message, exc: Exception, lane: Lane) -> bool:
        """Apply retries and the error policy; False: leave the message unacknowledged."""
        assert self.handler is not None
        s = self.settings
        attempts = 1
        while True:
            lane.n_errors += 1
            if attempts > s.retries:
                return self._give_up(msg, exc, attempts, lane)
            delay = s.backoff(attempts)
            _log.warning(
                "Handler failed on %s (attempt %d of %d): %s: %s; retrying in %.3gs",
                describe(msg), attempts, s.retries + 1, type(exc).__name__, exc, delay,
            )
            if not self._sleep(delay):
                _log.warning(
                    "Shutting down during a retry: %s is not acknowledged and will be "
                    "consumed again", describe(msg),
                )
                return False
            attempts += 1
            try:
                pairs = self._resolve(self.handler(msg))
            except Exception as again:
                exc = again
                continue
            try:
                self._send(pairs, lane)
            except InvalidMessageError as again:
                exc = again
                continue
            return True

    def _give_up(self, msg: Message, exc: Exception, attempts: int, lane: Lane) -> bool:
        s = self.settings
        if s.on_error == "skip":
            lane.n_skipped += 1
            _log.warning(
                "Skipping %s after %d attempt(s): %s: %s",
                describe(msg), attempts, type(exc).__name__, exc,
            )
            _log.debug("Handler traceback", exc_info=exc)
            return True
        if s.on_error == "dead-letter":
            assert self._dl_send is not None
            lane.n_dead += 1
            _log.warning(
                "Sending %s to dead-letter producer %r after %d attempt(s): %s: %s",
                describe(msg), s.dead_letter_producer, attempts, type(exc).__name__, exc,
            )
            _log.debug("Handler traceback", exc_info=exc)
            self._dl_send(dead_letter(msg, exc, attempts, s.dead_letter_topic))
            lane.n_out += 1
            return True
        raise HandlerFailedError(msg, exc, attempts) from exc

    def _sleep(self, seconds: float) -> bool:
        """Wait ``seconds``; False as soon as a shutdown or a failure elsewhere begins."""
        deadline = time.monotonic() + seconds
        while True:
            if self._coordinator.interrupted is not None or self._fatal is not None:
                return False
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            time.sleep(min(left, 0.05))


def _unforwardable(msg: Message, exc: InvalidMessageError) -> InvalidMessageError:
    """The error that stops ``pipe`` at a message its producer refuses.

    ``pipe`` has no handler and so no error policy: it copies every message or stops,
    leaving this one unacknowledged, to be consumed again once the limit is raised.
    """
    return InvalidMessageError(
        f"cannot forward {describe(msg)}: {exc}. pipe copies every message unchanged, so "
        "it stops here; the message is not acknowledged and is consumed again after a "
        "restart (or run a handler with --on-error skip or dead-letter)"
    )


def _index(msgs: list[Message], msg: Message) -> int:
    """The position of ``msg`` (this very object) in ``msgs``."""
    return next(i for i, m in enumerate(msgs) if m is msg)
