"""The oracle itself: it must see loss, duplicates, disorder and stale commits.

A verifier that cannot fail proves nothing (notes/traps.md 13). These feed it made-up
outputs with known faults; no broker needed.
"""

from __future__ import annotations

from oracle import (
    COMMIT_INTERVAL,
    InputSet,
    OutRecord,
    judge,
    kill_bound,
    outage_bound,
    redone_after,
)

INPUT = InputSet(
    topic="in",
    partitions=2,
    records={(p, o) for p in range(2) for o in range(5)},
    end_offsets={0: 5, 1: 5},
)


def outputs(*srcs: tuple[int, int]) -> list[OutRecord]:
    """Copies in this order, each into the output partition of its source partition."""
    offsets = {0: 0, 1: 0}
    out = []
    for p, o in srcs:
        out.append(OutRecord(p, offsets[p], (p, o)))
        offsets[p] += 1
    return out


PERFECT = [(p, o) for o in range(5) for p in range(2)]


def test_a_perfect_copy_passes() -> None:
    v = judge(INPUT, outputs(*PERFECT), {0: 5, 1: 5})
    assert (v.missing, v.duplicates, v.unexpected, v.order_errors) == ([], 0, [], [])
    assert v.committed_at_end


def test_a_lost_record_is_missing() -> None:
    v = judge(INPUT, outputs(*[s for s in PERFECT if s != (1, 3)]), {0: 5, 1: 5})
    assert v.missing == [(1, 3)]


def test_a_replay_counts_duplicates_but_keeps_order() -> None:
    replayed = [(0, 0), (0, 1), (0, 2), (0, 1), (0, 2), (0, 3), (0, 4)]
    v = judge(INPUT, outputs(*replayed, *[(1, o) for o in range(5)]), {0: 5, 1: 5})
    assert v.duplicates == 2
    assert v.duplicated[(0, 1)] == 1
    assert v.order_errors == []


def test_reordering_is_an_order_error() -> None:
    v = judge(INPUT, outputs((0, 0), (0, 2), (0, 1), (0, 3), (0, 4), *[(1, o) for o in range(5)]),
              {0: 5, 1: 5})  # fmt: skip
    assert len(v.order_errors) == 1 and "0:1" in v.order_errors[0]


def test_a_record_that_was_never_input_is_unexpected() -> None:
    v = judge(INPUT, outputs(*PERFECT, (1, 9)), {0: 5, 1: 5})
    assert v.unexpected == [(1, 9)]


def test_commits_short_of_the_end_are_seen() -> None:
    assert not judge(INPUT, outputs(*PERFECT), {0: 5, 1: 4}).committed_at_end
    assert not judge(INPUT, outputs(*PERFECT), {0: 5, 1: -1001}).committed_at_end


def test_redone_counts_what_was_done_past_the_commit_before_a_fault() -> None:
    out = outputs(*PERFECT)
    before = {0: 4, 1: 3}  # partition 0 had copied 0..3, partition 1 had copied 0..2
    assert redone_after(out, before, {0: 2, 1: -1001}) == 2 + 3


def test_bounds_follow_the_rate_and_stay_below_a_plausible_input() -> None:
    assert kill_bound(0) == 0
    assert kill_bound(1000) >= 1000 * COMMIT_INTERVAL
    assert kill_bound(2000) < 20_000 / 3  # three kills of scenario 1 stay below N
    assert outage_bound(2000) > kill_bound(2000)
