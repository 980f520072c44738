"""Acks waiting for deliveries are released once the sends before them are confirmed."""

from __future__ import annotations

from streamprocessor.clients.barrier import DeliveryTracker
from streamprocessor.clients.kafka.waiting import WaitingAcks, split


def tracker() -> DeliveryTracker:
    return DeliveryTracker("p", lambda timeout: None)


def test_entries_wait_until_their_send_is_confirmed() -> None:
    t = tracker()
    w = WaitingAcks()
    t.sent = 3
    assert w.release([("s", [(1, t, 1), (2, t, 3)])]) == []
    t.confirm_upto(1)
    assert w.release([]) == [("s", [1])]
    assert w.trackers() == [t]
    t.confirm_upto(3)
    assert w.release([]) == [("s", [2])]
    assert len(w) == 0
    assert w.trackers() == []


def test_drop_all_counts_what_never_became_ready() -> None:
    t = tracker()
    w = WaitingAcks()
    t.sent = 1
    w.release([("s", [(1, t, 1)])])
    assert w.drop_all() == 1
    assert w.release([]) == []


def test_offsets_without_marks_are_ready_at_once() -> None:
    assert split([5, 6, 7]) == ([5, 6, 7], [])


def test_waiting_entries_come_out_before_newer_ones() -> None:
    t = tracker()
    w = WaitingAcks()
    t.sent = 2
    w.release([("s", [(1, t, 1), (2, t, 2)])])
    t.confirm_upto(2)
    assert w.release([("s", [3])]) == [("s", [1, 2]), ("s", [3])]


def test_numbers_out_of_order_never_release_an_ack_early() -> None:
    # acks from two threads: a later number was appended first
    t = tracker()
    t.sent = 12
    t.confirm_upto(9)
    assert split([(1, t, 12), (2, t, 5), (3, t, 8)]) == ([], [(1, t, 12), (2, t, 5), (3, t, 8)])
    assert split([(1, t, 5), (2, t, 12), (3, t, 8)]) == ([1], [(2, t, 12), (3, t, 8)])


def test_an_ack_that_must_wait_holds_back_every_later_one() -> None:
    # first in, first out, also across partitions: a producer that closed with sends it
    # never delivered blocks every ack taken after them
    t = tracker()
    w = WaitingAcks()
    t.sent = 1
    assert w.release([("a", [(1, t, 1)])]) == []
    assert w.release([("b", [5, 6])]) == []
    assert w.release([("a", [2])]) == []
    assert len(w) == 4
    t.confirm_upto(1)
    assert w.release([]) == [("a", [1]), ("b", [5, 6]), ("a", [2])]


def test_mixed_shapes_are_looked_at_one_by_one() -> None:
    a, b = tracker(), tracker()
    a.sent = b.sent = 2
    a.confirm_upto(1)
    entries = [7, (8, a, 1), (9, ((a, 2), (b, 1))), (10, a, 2)]
    assert split(entries) == ([7, 8], [(9, ((a, 2), (b, 1))), (10, a, 2)])
    a.confirm_upto(2)
    b.confirm_upto(1)
    assert split(entries) == ([7, 8, 9, 10], [])
