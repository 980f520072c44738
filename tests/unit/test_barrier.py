from typing import Any

from streamprocessor.util.barrier import AckBarrier, DeliveryTracker, PendingAcks


def test_tracker_confirms_out_of_order_deliveries_as_a_prefix():
    t = DeliveryTracker("p", lambda timeout: None)
    for _ in range(4):
        t.next_seq()
    t.confirm(2)
    t.confirm(4)
    assert t.confirmed == 0
    t.confirm(1)
    assert t.confirmed == 2
    t.confirm(3)
    assert t.confirmed == 4
    assert t.pending == 0


def test_confirm_upto_absorbs_later_out_of_order_confirmations():
    t = DeliveryTracker("p", lambda timeout: None)
    for _ in range(5):
        t.next_seq()
    t.confirm(4)
    t.confirm_upto(3)
    assert t.confirmed == 4


def test_marks_list_only_producers_with_undelivered_sends():
    b = AckBarrier()
    busy, idle = DeliveryTracker("busy", print), DeliveryTracker("idle", print)
    b.register(busy)
    b.register(idle)
    busy.next_seq()
    assert b.marks() == ((busy, 1),)
    b.unregister(busy)
    assert b.marks() == ()


def test_pending_acks_are_released_in_order_once_sends_are_delivered():
    t = DeliveryTracker("p", print)
    pending = PendingAcks()
    t.next_seq()
    pending.add(((t, 1),), "ack-1")
    t.next_seq()
    pending.add(((t, 2),), "ack-2")
    assert pending.ready() == []
    assert pending.trackers() == [t]
    t.confirm(1)
    assert pending.ready() == ["ack-1"]
    t.confirm(2)
    assert pending.ready() == ["ack-2"]
    assert len(pending) == 0


def test_mark_is_the_last_send_while_some_are_undelivered() -> None:
    t = DeliveryTracker("p", print)
    assert t.mark() == 0
    t.next_seq()
    t.next_seq()
    assert t.mark() == 2
    t.confirm_upto(2)
    assert t.mark() == 0


def test_add_all_queues_every_token_behind_one_mark() -> None:
    t = DeliveryTracker("p", print)
    pending = PendingAcks()
    t.next_seq()
    pending.add_all(((t, 1),), ["a", "b"])
    assert pending.tokens() == ["a", "b"]
    assert pending.ready() == []
    t.confirm(1)
    assert pending.ready() == ["a", "b"]
    assert not pending


def test_a_barrier_flush_during_a_close_in_another_thread_waits_for_that_close() -> None:
    """A consumer closing flushes the producers its acks wait on; one that another thread
    is closing cannot flush any more (it is closed), so the barrier waits for its close,
    which delivers what it holds, instead of dropping the acks at once."""
    import threading
    import time

    from streamprocessor.clients.front import ProducerFront
    from streamprocessor.config import new_producer_config

    closing = threading.Event()

    class SlowClose:  # a sink whose close takes a while and delivers on the way out
        synchronous = False

        def __init__(self, link: Any) -> None:
            self.tracker = DeliveryTracker("slow", link.barrier_flush)

        def send(self, msg: object) -> None: ...

        def flush(self, timeout: float | None) -> None: ...

        def close(self, timeout: float) -> None:
            closing.set()
            time.sleep(0.3)
            self.tracker.confirm_upto(self.tracker.sent)

        def unfinished(self) -> str:
            return ""

        def save_before_exit(self) -> None: ...

    p = ProducerFront(new_producer_config(), SlowClose)
    tracker = p._tracker
    assert tracker is not None
    tracker.next_seq()
    closer = threading.Thread(target=p.close)
    closer.start()
    assert closing.wait(5)
    started = time.monotonic()
    tracker.flush(5.0)  # what a closing consumer calls
    assert time.monotonic() - started >= 0.2  # it waited for the close ...
    assert tracker.confirmed == 1  # ... which delivered the send
    closer.join()


def test_after_a_failed_send_later_confirmations_are_not_kept() -> None:
    """Nothing can pass a send that failed for good: memory stays flat after it."""
    t = DeliveryTracker("p", print)
    for _ in range(1000):
        t.next_seq()
    t.confirm(1)
    t.confirm(3)
    t.fail(2)
    assert t.blocked == 2
    for seq in range(4, 1001):
        t.confirm(seq)
    t.confirm_upto(1000)
    assert t.confirmed == 1
    assert t._ahead == set()
    t.fail(5)  # a later failure changes nothing; an earlier one would
    assert t.blocked == 2


def test_acks_behind_a_failed_send_are_dropped_not_kept() -> None:
    t, other = DeliveryTracker("p", print), DeliveryTracker("q", print)
    pending = PendingAcks()
    for _ in range(3):
        t.next_seq()
    other.next_seq()
    pending.add(((t, 1),), "before")
    pending.add(((t, 3), (other, 1)), "behind")
    pending.add(((t, 3),), "behind too")
    t.confirm(1)
    t.fail(2)
    assert pending.ready() == ["before"]
    assert pending.drop_unreachable() == ["behind", "behind too"]
    assert not pending


def test_drain_applies_what_is_ready_behind_dropped_acks() -> None:
    """Dropping the acks that wait on a failed send can make later ones ready."""
    t, other = DeliveryTracker("p", print), DeliveryTracker("q", print)
    pending = PendingAcks()
    for _ in range(2):
        t.next_seq()
    other.next_seq()
    pending.add(((t, 1),), "first")
    pending.add(((t, 2),), "dead")
    pending.add(((other, 1),), "other")
    pending.add(((other, 2),), "waiting")
    t.confirm(1)
    t.fail(2)
    other.confirm(1)
    applied: list[list[str]] = []
    assert pending.drain(applied.append) == ["dead"]
    assert applied == [["first"], ["other"]]
    assert len(pending) == 1  # "waiting": its send is not delivered yet
