"""Delivery callbacks of the Kafka producer → its ack-barrier tracker (no broker needed)."""

from __future__ import annotations

import threading
from typing import Any

from streamprocessor.clients.kafka._delivery import Deliveries
from streamprocessor.util.barrier import AckBarrier


def deliveries() -> Deliveries:
    return Deliveries("p", lambda timeout: None, lambda: 0)


def test_sends_are_numbered_in_order_and_their_callbacks_confirm_them() -> None:
    d = deliveries()
    sends = [next(d.numbers) for _ in range(3)]
    assert [s.__self__ for s in sends] == [1, 2, 3]
    sends[2](None, "record")  # out of order: 3 first
    assert d.settle() == []
    assert d.tracker.confirmed == 0
    sends[0](None, "record")
    sends[1](None, "record")
    d.settle()
    assert d.tracker.confirmed == 3


def test_a_failed_delivery_is_returned_and_never_confirmed() -> None:
    d = deliveries()
    first, second = next(d.numbers), next(d.numbers)
    first(None, "ok")
    second("broker says no", "record")
    assert d.settle() == [(2, "broker says no", "record", None, 0)]
    assert d.tracker.confirmed == 1


def test_a_mark_waits_for_every_earlier_send_and_is_confirmed_itself() -> None:
    d = deliveries()
    t = d.tracker
    assert t.mark() == 0  # nothing sent: nothing to wait for
    sends = [next(d.numbers) for _ in range(2)]
    mark = t.mark()
    assert mark == 4  # (3 was the mark taken above, confirmed at once)
    later = next(d.numbers)
    for s in sends:
        s(None, "record")
    d.settle()
    assert t.confirmed >= mark  # the later send does not hold the mark back
    later(None, "record")
    d.settle()
    assert t.confirmed == 5


def test_the_barrier_takes_marks_from_numbered_trackers() -> None:
    b = AckBarrier()
    d = deliveries()
    b.register(d.tracker)
    assert b.marks() == ()
    send = next(d.numbers)
    ((tracker, mark),) = b.marks()
    assert tracker is d.tracker and mark > send.__self__
    send(None, "record")
    d.settle()
    assert b.marks() == ()


def test_numbers_are_unique_across_threads() -> None:
    d = deliveries()
    got: list[list[Any]] = [[] for _ in range(4)]

    def take(out: list[Any]) -> None:
        for _ in range(5000):
            out.append(next(d.numbers).__self__)

    threads = [threading.Thread(target=take, args=(out,)) for out in got]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    everything = [n for out in got for n in out]
    assert sorted(everything) == list(range(1, 20001))


def test_a_failed_delivery_blocks_the_tracker_and_later_reports_are_not_kept() -> None:
    d = deliveries()
    sends = [next(d.numbers) for _ in range(500)]
    sends[0](None, "ok")
    sends[1]("broker says no", "record")
    for s in sends[2:]:
        s(None, "ok")
    assert [f[0] for f in d.settle()] == [2]
    assert d.tracker.blocked is None  # (the producer may send it again)
    d.fail(2)
    assert d.tracker.blocked == 2
    assert d.tracker.confirmed == 1
    assert d.tracker._ahead == set()
    assert d.tracker.mark() > 2  # every later mark is past the failed send


def test_a_failed_send_sent_again_under_its_number_confirms_what_came_after_it() -> None:
    d = deliveries()
    sends = [next(d.numbers) for _ in range(4)]
    sends[0](None, "ok")
    sends[1]("refused with its batch", "record")
    for s in sends[2:]:
        s(None, "ok")
    assert [f[0] for f in d.settle()] == [2]
    assert d.tracker.confirmed == 1  # the later ones wait for it
    d.report(2, None, 0)(None, "delivered alone")
    assert d.settle() == []
    assert d.tracker.confirmed == 4


def test_the_headers_and_timestamp_of_a_send_come_back_with_its_failure() -> None:
    """A failed report holds neither; the callback of such a send carries them."""
    d = deliveries()
    n = next(d.counter)  # (from the numbers' counter)
    plain = next(d.numbers)
    assert plain.__self__ == n + 1
    d.report(n, {"h": b"1"}, 1234)("refused", "record")
    assert d.settle() == [(1, "refused", "record", {"h": b"1"}, 1234)]
    d.report(n, {"h": b"1"}, 1234)(None, "delivered alone")
    plain(None, "record")
    d.settle()
    assert d.tracker.confirmed == 2
