"""Acks waiting for one producer's deliveries are released in order once confirmed."""

from __future__ import annotations

from streamprocessor.clients.barrier import DeliveryTracker
from streamprocessor.clients.kafka.waiting import WaitingAcks


def tracker() -> DeliveryTracker:
    return DeliveryTracker("p", lambda timeout: None)


def test_tokens_wait_until_their_send_is_confirmed() -> None:
    t = tracker()
    w = WaitingAcks()
    t.sent = 3
    w.q.append((t, 1, "a"))
    w.q.append((t, 3, "b"))
    assert w.ready() == []
    t.confirm_upto(1)
    assert w.ready() == ["a"]
    assert w.trackers() == [t]
    t.confirm_upto(3)
    assert w.ready() == ["b"]
    assert len(w) == 0
    assert w.trackers() == []


def test_drop_all_returns_what_never_became_ready() -> None:
    t = tracker()
    w = WaitingAcks()
    t.sent = 1
    w.q.append((t, 1, "a"))
    assert w.drop_all() == ["a"]
    assert w.ready() == []
