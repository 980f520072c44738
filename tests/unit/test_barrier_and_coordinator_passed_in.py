"""A client joins the ack barrier and the interrupt coordinator it is given."""

from __future__ import annotations

import io
import logging
import signal
import threading

import pytest

from streamprocessor import Message, options
from streamprocessor.clients import inmem, standardstream
from streamprocessor.runner import Runner
from streamprocessor.stores import InmemStore
from streamprocessor.util.barrier import BARRIER, AckBarrier, DeliveryTracker
from streamprocessor.util.interrupts import COORDINATOR, ShutdownCoordinator


def _store(n: int) -> InmemStore:
    store = InmemStore()
    for i in range(n):
        store.add(Message(value=b"m%d" % i))
    return store


def _held(barrier: AckBarrier) -> DeliveryTracker:
    """A producer's tracker with one send not confirmed yet."""
    tracker = DeliveryTracker("held", flush=lambda timeout: None)
    barrier.register(tracker)
    tracker.next_seq()
    return tracker


def test_acks_wait_for_the_sends_of_the_consumers_own_barrier_only() -> None:
    mine, other = AckBarrier(), AckBarrier()
    held_mine, held_other = _held(mine), _held(other)
    try:
        store = _store(2)
        with inmem.new_consumer(
            options.inmem_store(store), options.inmem_listen(), options.ack_barrier(mine)
        ) as c:
            it = iter(c)
            c.ack(next(it))
            assert len(store) == 2  # waits for the send on its barrier
            held_other.confirm(1)
            c.ack(next(it))
            assert len(store) == 2  # ... not for another barrier's
            held_mine.confirm(1)
        # closing committed what became committable
        assert len(store) == 0
    finally:
        mine.unregister(held_mine)
        other.unregister(held_other)


def test_a_consumer_of_the_process_wide_barrier_does_not_wait_for_another_barrier() -> None:
    other = AckBarrier()
    held = _held(other)
    try:
        store = _store(1)
        with inmem.new_consumer(options.inmem_store(store), options.inmem_listen()) as c:
            c.ack(next(iter(c)))
            assert len(store) == 0
    finally:
        other.unregister(held)


def test_a_consumer_whose_barrier_has_no_producer_while_others_do_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    lonely = AckBarrier()
    out = io.BytesIO()
    with standardstream.new_producer(options.standardstream_writer(out)) as p:  # on BARRIER
        assert p._tracker in BARRIER.trackers
        store = _store(3)
        with caplog.at_level(logging.WARNING, logger="streamprocessor"), inmem.new_consumer(
            options.inmem_store(store), options.inmem_listen(), options.ack_barrier(lonely)
        ) as c:
            for msg in c:
                p.send(msg)
                c.ack(msg)
                if msg.value == b"m2":
                    break
    warned = [r for r in caplog.records if "ack barrier" in r.getMessage()]
    assert len(warned) == 1, [r.getMessage() for r in caplog.records]
    assert "options.ack_barrier" in warned[0].getMessage()


def test_no_warning_when_the_consumer_and_its_producers_share_a_barrier(
    caplog: pytest.LogCaptureFixture,
) -> None:
    shared = AckBarrier()
    out = io.BytesIO()
    store = _store(3)
    with caplog.at_level(logging.WARNING, logger="streamprocessor"), \
            standardstream.new_producer(
                options.standardstream_writer(out), options.ack_barrier(shared)
            ) as p, \
            inmem.new_consumer(
                options.inmem_store(store), options.inmem_listen(), options.ack_barrier(shared)
            ) as c:
        assert p._tracker in shared.trackers and p._tracker not in BARRIER.trackers
        for msg in c:
            p.send(msg)
            c.ack(msg)
            if msg.value == b"m2":
                break
    assert not [r for r in caplog.records if "ack barrier" in r.getMessage()]
    assert out.getvalue() == b"m0\nm1\nm2\n"
    assert len(store) == 0


def test_a_coordinator_passed_in_installs_no_signal_handler_and_is_stopped_by_its_owner() -> (
    None
):
    before = signal.getsignal(signal.SIGTERM)
    coordinator = ShutdownCoordinator()
    exits: list[int] = []
    coordinator.exit = exits.append
    store = _store(5)
    with inmem.new_consumer(
        options.inmem_store(store), options.interrupt_coordinator(coordinator)
    ) as c:
        assert signal.getsignal(signal.SIGTERM) == before
        got = []
        for msg in c:
            got.append(msg.value)
            if len(got) == 2:
                coordinator.stop()
        assert got == [b"m0", b"m1"]  # the one in hand is finished, no more handed out
        assert c.halted
    assert COORDINATOR.interrupted is None
    assert signal.getsignal(signal.SIGTERM) == before
    assert exits == []  # closed within the shutdown timeout: the watchdog was cancelled


def test_the_runner_stops_with_the_coordinator_it_is_given() -> None:
    coordinator = ShutdownCoordinator()
    coordinator.exit = lambda code: None
    store, out = _store(10), InmemStore()
    seen: list[bytes] = []

    def handler(msg: Message) -> Message:
        assert msg.value is not None
        seen.append(msg.value)
        if len(seen) == 3:
            coordinator.stop()
        return msg

    with inmem.new_consumer(
        options.inmem_store(store), options.inmem_listen(),
        options.interrupt_coordinator(coordinator),
    ) as c, inmem.new_producer(
        options.inmem_store(out), options.interrupt_coordinator(coordinator)
    ) as p:
        done = threading.Event()
        t = threading.Thread(
            target=lambda: (Runner(c, {"producer": p}, handler, coordinator=coordinator).run(),
                            done.set()),
            daemon=True,
        )
        t.start()
        assert done.wait(5), "the runner did not stop"
    assert seen == [b"m0", b"m1", b"m2"]
    assert [m.value for m in out.messages()] == seen
    # the three handled are acknowledged: a new consumer gets the rest
    assert [m.value for m in store.messages()] == [b"m%d" % i for i in range(3, 10)]
