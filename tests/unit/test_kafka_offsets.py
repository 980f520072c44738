"""Acknowledged positions move only over the acknowledged prefix of delivered offsets."""

from __future__ import annotations

from streamprocessor.clients.kafka._offsets import PartitionState


def state(*offsets: int) -> PartitionState:
    s = PartitionState(None, "t", 0)
    for o in offsets:
        s.deliver(o)
    return s


def test_in_order_acks_move_the_position_one_by_one() -> None:
    s = state(0, 1, 2)
    assert s.ack(0) and s.position == 1
    assert s.ack(1) and s.position == 2


def test_an_ack_past_an_unacked_offset_commits_nothing() -> None:
    s = state(0, 1, 2)
    assert not s.ack(1)
    assert s.position is None
    assert s.ack(0)
    assert s.position == 2


def test_gaps_in_offsets_do_not_stall_the_position() -> None:
    s = state(10, 13, 20)
    s.ack(13)
    s.ack(10)
    assert s.position == 14
    s.ack(20)
    assert s.position == 21
    assert s.first_unacked is None


def test_duplicate_and_unknown_acks_change_nothing() -> None:
    s = state(5, 6)
    s.ack(5)
    assert not s.ack(5)
    assert not s.ack(99)
    assert s.position == 6
    assert list(s.runs) == [[6, 7]]


def test_truncate_forgets_the_nacked_offset_and_later_ones() -> None:
    s = state(1, 2, 3, 4)
    s.ack(3)
    s.truncate(2)
    assert list(s.runs) == [[1, 2]]
    assert s.acked == set()
    s.deliver(2)
    s.deliver(3)
    s.ack(1)
    assert s.position == 2
    s.ack(3)
    assert s.position == 2


def test_consecutive_offsets_take_one_run_whatever_their_number() -> None:
    s = state(*range(100_000))
    assert list(s.runs) == [[0, 100_000]]
    assert s.outstanding == 100_000
    s.deliver(100_005)
    assert list(s.runs) == [[0, 100_000], [100_005, 100_006]]


def test_an_ack_inside_a_gap_is_ignored() -> None:
    s = state(1, 5)
    assert not s.ack(3)
    assert s.acked == set()


def test_ack_all_of_the_last_batch_taken_moves_over_it_in_one_step() -> None:
    s = state(*range(100, 110))
    s.last_take = list(range(100, 110))
    s.ack_all(list(s.last_take))  # (equal values; the consumer passes the same objects)
    assert s.position == 110
    assert s.runs == type(s.runs)()


def test_ack_all_never_moves_over_an_offset_that_was_not_acknowledged() -> None:
    s = state(*range(100, 110))
    s.last_take = list(range(100, 110))
    acks = [100, 101, 101, 103, 104, 105, 106, 107, 108, 109]  # 102 twice-acked 101
    s.ack_all(acks)
    assert s.position == 102  # stops at the missing 102, however many acks came
    s.ack_all([102])
    assert s.position == 110


def test_ack_all_of_a_part_of_the_last_batch_moves_over_that_part() -> None:
    s = state(*range(100, 110))
    s.last_take = list(range(100, 110))
    s.ack_all([100, 101, 102])
    assert s.position == 103
    s.ack_all(list(range(103, 110)))
    assert s.position == 110
