"""Scenarios 1, 2 and 4: the processor killed, stopped, and joined by a second one.

The processor is ``streamprocessor run copy_processor.py:copy`` in its own process; the
input is N records written idempotently; the verifier reads the output to its end. Pass
rules are Kafka's own (notes §C.1): a hard failure may duplicate (bounded), a clean
shutdown or a rebalance may not; nothing is ever missing; the committed offsets end at
the input's end offsets.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from oracle import (
    COMMIT_INTERVAL,
    OutputWatch,
    Processor,
    committed_offsets,
    create_pair,
    kill_bound,
    processor_env,
    processors,
    produce_input,
    random_name,
    read_output,
    redone_after,
    verify,
)

from streamprocessor.testing.kafka_broker import KafkaCluster

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

N = 20_000
RATE = 2_000.0  # messages per second the handler is paced to (unpaced it runs ~40 000/s)
PARTITIONS = 3
POINTS = (0.3, 0.5, 0.7)
SHUTDOWN_TIMEOUT = 10.0


def wait_committed_at_end(
    brokers: str, group: str, topic: str, ends: dict[int, int], proc: Processor, timeout: float
) -> float:
    """Wait until the group committed the input's end offsets (auto-commit, no shutdown)."""
    started = time.monotonic()
    while True:
        got = committed_offsets(brokers, group, topic, len(ends))
        if got == ends:
            return time.monotonic() - started
        proc.check_alive()
        assert time.monotonic() - started < timeout, f"committed {got}, end {ends}"
        time.sleep(0.2)


def test_kill9_at_30_50_70_percent_loses_nothing_and_duplicates_within_the_bound(
    secure_kafka: KafkaCluster, log_dir: Path, figures: Callable[..., None]
) -> None:
    brokers = secure_kafka.bootstrap_servers
    src, dst = create_pair(brokers, PARTITIONS)
    group = random_name("g")
    inp = produce_input(brokers, src, N, PARTITIONS)
    env = processor_env(brokers, src, dst, group, RATE)
    kills: list[dict[str, Any]] = []
    redone_so_far = 0
    with processors() as procs, OutputWatch(brokers, dst, PARTITIONS) as watch:
        proc = Processor("run-1", env, log_dir).start()
        procs.append(proc)
        for i, point in enumerate(POINTS):
            # outputs so far = distinct inputs done + the copies made again after kills
            watch.wait_for(int(point * N) + redone_so_far, 90, [proc], f"kill at {point:.0%}")
            rate = watch.rate(2.0)
            killed_at = proc.kill()
            time.sleep(0.3)  # what the dead process had on the wire lands now
            before = watch.fresh_ends()
            committed = committed_offsets(brokers, group, src, PARTITIONS)
            outputs = read_output(brokers, dst, PARTITIONS, stable=0.2)
            redone = redone_after(outputs, before, committed)
            redone_so_far += redone
            bound = kill_bound(rate)
            resume_from = time.monotonic()
            proc = Processor(f"run-{i + 2}", env, log_dir).start()
            procs.append(proc)
            resumed = watch.first_growth_after(resume_from, 60)
            kills.append(
                {
                    "at": point,
                    "done": len({r.src for r in outputs}),
                    "rate": round(rate),
                    "uncommitted": redone,
                    "bound": bound,
                    "recovery_s": round(resumed - killed_at, 2),
                }
            )
        commit_wait = wait_committed_at_end(brokers, group, src, inp.end_offsets, proc, 90)
        code, _ = proc.terminate(SHUTDOWN_TIMEOUT + 5)
    verdict = verify(brokers, inp, dst, PARTITIONS, group)
    bounds = [k["bound"] for k in kills]
    figures(
        scenario="1 kill -9 processor",
        n=N,
        rate_paced=RATE,
        commit_interval_s=COMMIT_INTERVAL,
        kills=kills,
        missing=len(verdict.missing),
        duplicates=verdict.duplicates,
        duplicate_bound=sum(bounds),
        committed_at_end=verdict.committed_at_end,
        final_commit_wait_s=round(commit_wait, 2),
    )
    assert code == 0, proc.log_tail()
    assert sum(bounds) < N, f"bounds {bounds} exceed the input: the test could not fail"
    assert all(k["rate"] > 0 for k in kills), kills
    assert not verdict.missing, verdict.summary()
    assert not verdict.unexpected, verdict.summary()
    assert not verdict.order_errors, verdict.summary()
    for k in kills:
        assert k["uncommitted"] <= k["bound"], f"kill at {k['at']:.0%}: {k}"
    # every duplicate is a copy made again of an input handled but not committed at a kill
    assert verdict.duplicates == redone_so_far, verdict.summary()
    assert verdict.duplicates <= sum(bounds), verdict.summary()
    assert verdict.committed_at_end, verdict.summary()


def test_sigterm_at_30_50_70_percent_loses_nothing_and_duplicates_nothing(
    secure_kafka: KafkaCluster, log_dir: Path, figures: Callable[..., None]
) -> None:
    brokers = secure_kafka.bootstrap_servers
    src, dst = create_pair(brokers, PARTITIONS)
    group = random_name("g")
    inp = produce_input(brokers, src, N, PARTITIONS)
    env = processor_env(brokers, src, dst, group, RATE)
    stops: list[dict[str, Any]] = []
    args = ["--shutdown-timeout", f"{SHUTDOWN_TIMEOUT:g}s"]
    with processors() as procs, OutputWatch(brokers, dst, PARTITIONS) as watch:
        proc = Processor("run-1", env, log_dir, args=args).start()
        procs.append(proc)
        for i, point in enumerate(POINTS):
            watch.wait_for(int(point * N), 90, [proc], f"SIGTERM at {point:.0%}")
            code, took = proc.terminate(SHUTDOWN_TIMEOUT + 5)
            # no commit yet (-1001) on a partition not started is the same as 0
            committed = {
                p: max(o, 0) for p, o in committed_offsets(brokers, group, src, PARTITIONS).items()
            }
            outputs = read_output(brokers, dst, PARTITIONS, stable=0.2)
            done: dict[int, set[int]] = {p: set() for p in range(PARTITIONS)}
            for r in outputs:
                done[r.src[0]].add(r.src[1])
            # committed right after the exit = exactly the inputs copied, per partition
            expected = {p: len(offsets) for p, offsets in done.items()}
            prefix = all(offsets == set(range(len(offsets))) for offsets in done.values())
            started = time.monotonic()
            proc = Processor(f"run-{i + 2}", env, log_dir, args=args).start()
            procs.append(proc)
            resumed = watch.first_growth_after(started, 60)
            stops.append(
                {
                    "at": point,
                    "exit": code,
                    "shutdown_s": round(took, 2),
                    "copied": len(outputs),
                    "committed": committed,
                    "expected": expected,
                    "prefix": prefix,
                    "restart_to_output_s": round(resumed - started, 2),
                }
            )
        watch.wait_for(N, 90, [proc], "the rest")
        wait_committed_at_end(brokers, group, src, inp.end_offsets, proc, 60)
        code, took = proc.terminate(SHUTDOWN_TIMEOUT + 5)
    verdict = verify(brokers, inp, dst, PARTITIONS, group)
    figures(
        scenario="2 SIGTERM processor",
        n=N,
        rate_paced=RATE,
        stops=stops,
        missing=len(verdict.missing),
        duplicates=verdict.duplicates,
        committed_at_end=verdict.committed_at_end,
    )
    for s in stops:
        assert s["exit"] == 0, s
        assert s["shutdown_s"] < SHUTDOWN_TIMEOUT, s
        assert s["prefix"], f"copies are not a prefix of each partition: {s}"
        assert s["committed"] == s["expected"], s
    assert code == 0, proc.log_tail()
    assert not verdict.missing, verdict.summary()
    assert verdict.duplicates == 0, verdict.summary()
    assert not verdict.order_errors, verdict.summary()
    assert verdict.committed_at_end, verdict.summary()


@pytest.mark.parametrize("strategy", ["range,roundrobin", "cooperative-sticky"])
def test_rebalance_join_and_leave_loses_nothing_and_duplicates_nothing(
    secure_kafka: KafkaCluster, log_dir: Path, figures: Callable[..., None], strategy: str
) -> None:
    partitions = 6
    brokers = secure_kafka.bootstrap_servers
    src, dst = create_pair(brokers, partitions)
    group = random_name("g")
    inp = produce_input(brokers, src, N, partitions)
    env = processor_env(brokers, src, dst, group, RATE)
    if strategy == "cooperative-sticky":  # incremental; the default is eager
        env["CONSUMER_KAFKA_LIBRDKAFKA_CONFIG"] = f"partition.assignment.strategy={strategy}"
    with processors() as procs, OutputWatch(brokers, dst, partitions) as watch:
        a = Processor("A", env, log_dir).start()
        procs.append(a)
        watch.wait_for(int(0.3 * N), 90, [a], "B joins at 30%")
        b = Processor("B", env, log_dir).start()
        procs.append(b)
        b_started = time.time()
        watch.wait_for(int(0.7 * N), 90, [a, b], "B leaves at 70%")
        b_code, b_took = b.terminate(SHUTDOWN_TIMEOUT + 5)
        b_left = time.time()
        watch.wait_for(N, 90, [a], "A alone again")
        wait_committed_at_end(brokers, group, src, inp.end_offsets, a, 60)
        a_code, _ = a.terminate(SHUTDOWN_TIMEOUT + 5)
    verdict = verify(brokers, inp, dst, partitions, group)
    by_b = [r for r in verdict.outputs if r.by == "B"]
    times = sorted(r.timestamp for r in verdict.outputs)

    def pause(at: float) -> float:
        """The longest time without any output in the 5 s after ``at`` (a rebalance)."""
        inside = [t for t in times if at - 0.5 <= t <= at + 5]
        return max((y - x for x, y in itertools.pairwise(inside)), default=0.0)

    figures(
        scenario="4 rebalance",
        strategy=strategy,
        n=N,
        partitions=partitions,
        copies_by_b=len(by_b),
        b_first_output_s=round(min(r.timestamp for r in by_b) - b_started, 2) if by_b else None,
        join_pause_s=round(pause(b_started), 2),
        leave_pause_s=round(pause(b_left - b_took), 2),
        b_shutdown_s=round(b_took, 2),
        missing=len(verdict.missing),
        duplicates=verdict.duplicates,
        committed_at_end=verdict.committed_at_end,
    )
    assert b_code == 0, b.log_tail()
    assert a_code == 0, a.log_tail()
    assert by_b, "B never got a partition: the rebalance was not exercised"
    assert len(by_b) < N - int(0.3 * N), "B did everything: A never kept a partition"
    assert not verdict.missing, verdict.summary()
    assert verdict.duplicates == 0, verdict.summary()
    assert not verdict.order_errors, verdict.summary()
    assert verdict.committed_at_end, verdict.summary()
