"""Scenarios 3 and 5: brokers killed under a running processor.

3. One broker, SIGKILL at 40 % and restart on the same storage (no re-format).
5. Three brokers (replication factor 3, min in-sync replicas 2): SIGKILL the leader of
   an input partition, restart it, then SIGKILL the group coordinator, restart it.

These start the clusters they kill. A broker's death shows in the processor as transport
errors, which it logs and rides out. Had it exited instead, it would have to say why
(exit status 1, "Fatal client error") and lose nothing when started again: the
:class:`Supervisor` restarts it and the figures say so.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient
from oracle import (
    CommitWatch,
    InputSet,
    OutputWatch,
    Processor,
    committed_offsets,
    create_pair,
    kill_bound,
    longest_pause,
    outage_bound,
    processor_env,
    produce_input,
    random_name,
    verify,
    wait_for_isr,
)

from streamprocessor.testing.kafka_broker import KafkaCluster

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

N = 20_000
PARTITIONS = 3
SHUTDOWN_TIMEOUT = 10.0


class Supervisor:
    """Keeps one processor running: one that exited must have said why; it is restarted."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.all: list[Processor] = []
        self.restarts: list[dict[str, Any]] = []
        self.current = self._start("run-1")

    def _start(self, name: str) -> Processor:
        proc = Processor(name, self.env, self.log_dir).start()
        self.all.append(proc)
        return proc

    def check(self) -> None:
        """Restart the processor if it exited, after checking that it said why."""
        proc = self.current
        if proc.alive:
            return
        assert proc.proc is not None
        code = proc.proc.returncode
        tail = proc.log_tail(5)
        assert code == 1 and "Fatal client error" in tail, f"unclear exit {code}:\n{tail}"
        self.restarts.append({"exit": code, "error": tail.splitlines()[-1][:200]})
        self.current = self._start(f"run-{len(self.all) + 1}")

    def wait_committed(self, brokers: str, group: str, inp: InputSet, timeout: float) -> None:
        """Wait until the group committed the input's end offsets."""
        deadline = time.monotonic() + timeout
        while committed_offsets(brokers, group, inp.topic, inp.partitions) != inp.end_offsets:
            self.check()
            assert time.monotonic() < deadline, "the input was not committed to its end"
            time.sleep(0.5)

    def log(self) -> str:
        """The logs of every processor started."""
        return "\n".join(p.log_text() for p in self.all)

    def stop_all(self) -> None:
        """Kill whatever still runs (clean-up)."""
        for p in self.all:
            p.stop()


def test_broker_kill9_and_restart_mid_stream_loses_nothing(
    log_dir: Path, figures: Callable[..., None]
) -> None:
    rate = 2_000.0
    with KafkaCluster(nodes=1, auto_create_topics=False) as kafka:
        brokers = kafka.bootstrap_servers
        src, dst = create_pair(brokers, PARTITIONS)
        group = random_name("g")
        inp = produce_input(brokers, src, N, PARTITIONS)
        env = processor_env(brokers, src, dst, group, rate)
        sup = Supervisor(env, log_dir)
        try:
            with OutputWatch(brokers, dst, PARTITIONS) as watch:
                watch.wait_for(int(0.4 * N), 90, [sup.current], "broker kill at 40%")
                measured = watch.rate(2.0)
                killed_wall = time.time()
                kafka.kill(1)
                time.sleep(5.0)
                kafka.restart(1)
                back_wall = time.time()
                sup.check()
                sup.wait_committed(brokers, group, inp, 120)
            code, _ = sup.current.terminate(SHUTDOWN_TIMEOUT + 5)
        finally:
            sup.stop_all()
        log = sup.log()
        verdict = verify(brokers, inp, dst, PARTITIONS, group)
    after = [r.timestamp for r in verdict.outputs if r.timestamp >= back_wall]
    bound = outage_bound(measured)
    figures(
        scenario="3 broker kill -9 and restart",
        n=N,
        rate=round(measured),
        broker_down_s=round(back_wall - killed_wall, 2),
        resumed_after_broker_back_s=round(min(after) - back_wall, 2) if after else None,
        processor_restarts=sup.restarts,
        missing=len(verdict.missing),
        duplicates=verdict.duplicates,
        duplicate_bound=bound,
        committed_at_end=verdict.committed_at_end,
    )
    assert code == 0, log[-3000:]
    assert after, "nothing was copied after the broker came back"
    assert not verdict.missing, verdict.summary()
    assert not verdict.unexpected, verdict.summary()
    assert not verdict.order_errors, verdict.summary()
    assert verdict.committed_at_end, verdict.summary()
    assert bound < N, f"bound {bound} is not below the input: the test could not fail"
    assert verdict.duplicates <= bound, verdict.summary()
    # the outage was seen and logged as transient; riding it out, nothing was fatal
    assert "Received transient error from Kafka" in log, log[-2000:]
    if not sup.restarts:
        assert "Fatal client error" not in log


def _leader(admin: Any, topic: str, partition: int) -> int:
    meta = admin.list_topics(topic, timeout=10).topics[topic]
    return int(meta.partitions[partition].leader)


def _coordinator(admin: Any, group: str) -> int:
    futures = admin.describe_consumer_groups([group], request_timeout=10)
    return int(futures[group].result(timeout=20).coordinator.id)


@pytest.mark.parametrize(
    "session",
    [
        pytest.param(6.0, id="session-6s"),
        pytest.param(15.0, id="session-15s"),
    ],
)
def test_three_brokers_kill_partition_leader_then_group_coordinator_loses_nothing(
    log_dir: Path, figures: Callable[..., None], session: float
) -> None:
    """Nothing is lost; whether anything is copied twice depends on the group session.

    While the coordinator fails over (a dead broker is fenced after 3 s, then its
    partitions get new leaders), heartbeats go unanswered. A session shorter than that
    may expire: librdkafka drops the partitions and what was handled since the last
    commit is consumed again (bounded like a broker outage). A session that outlives the
    failover rides it out: at most a kill's worth is copied twice, in practice nothing.
    """
    rate = 1_000.0
    down = 4.0
    with KafkaCluster(nodes=3, auto_create_topics=False) as kafka:
        brokers = kafka.bootstrap_servers
        admin = AdminClient({"bootstrap.servers": brokers})
        src, dst = create_pair(brokers, PARTITIONS, replication=3)
        group = random_name("g")
        inp = produce_input(brokers, src, N, PARTITIONS)
        env = processor_env(
            brokers,
            src,
            dst,
            group,
            rate,
            CONSUMER_KAFKA_SESSION_TIMEOUT=f"{session:g}s",
        )
        faults: list[dict[str, Any]] = []
        rates: list[float] = []
        sup = Supervisor(env, log_dir)
        try:
            with (
                OutputWatch(brokers, dst, PARTITIONS) as watch,
                CommitWatch(brokers, group, src, PARTITIONS) as commits,
            ):
                for point, what in ((0.2, "partition leader"), (0.5, "group coordinator")):
                    watch.wait_for(int(point * N), 90, [sup.current], f"{what} at {point:.0%}")
                    coordinator = _coordinator(admin, group)
                    if what == "group coordinator":
                        node = coordinator
                    else:  # the leader of an input partition that is not the coordinator
                        leaders = [_leader(admin, src, p) for p in range(PARTITIONS)]
                        node = next((n for n in leaders if n != coordinator), leaders[0])
                    progress = watch.count() / N
                    rates.append(watch.rate(2.0))
                    killed_at = time.monotonic()
                    killed_wall = time.time()
                    kafka.kill(node)
                    time.sleep(down)
                    started = time.monotonic()
                    kafka.restart(node)
                    restart_s = time.monotonic() - started
                    isr_s = max(wait_for_isr(brokers, t, PARTITIONS, 3, 90) for t in (src, dst))
                    sup.check()
                    faults.append(
                        {
                            "killed": what,
                            "node": node,
                            "was_coordinator": node == coordinator,
                            "at": round(progress, 2),
                            "wall": killed_wall,
                            "restart_s": round(restart_s, 2),
                            "full_isr_after_s": round(isr_s, 2),
                            "killed_at": killed_at,
                        }
                    )
                sup.wait_committed(brokers, group, inp, 120)
                # how long the commits stood still after each fault (until the next one)
                ends = [f["killed_at"] for f in faults[1:]] + [time.monotonic()]
                for f, end in zip(faults, ends, strict=True):
                    start = f.pop("killed_at")
                    f["commit_stall_s"] = round(commits.longest_stall(start - 1, end, N), 2)
            code, _ = sup.current.terminate(SHUTDOWN_TIMEOUT + 5)
        finally:
            sup.stop_all()
        log = sup.log()
        verdict = verify(brokers, inp, dst, PARTITIONS, group)
    # The handler is paced, so the pace is the ceiling of the rate (a rate measured right
    # after the first fault is skewed by the outputs that were held up and land at once).
    # A session that expires costs an outage's worth; one that outlives the failover
    # costs at most a kill's worth (in-flight work), in practice nothing.
    per_fault = outage_bound(rate, session) if session < 10 else kill_bound(rate)
    bound = len(faults) * per_fault
    for f in faults:
        wall = f.pop("wall")
        f["output_pause_s"] = round(longest_pause(verdict.outputs, wall - 0.5, wall + 20), 2)
    figures(
        scenario="5 three brokers: leader, then coordinator",
        n=N,
        rate_paced=rate,
        rates_before_faults=[round(r) for r in rates],
        session_timeout_s=session,
        faults=faults,
        processor_restarts=sup.restarts,
        missing=len(verdict.missing),
        duplicates=verdict.duplicates,
        duplicate_bound=bound,
        committed_at_end=verdict.committed_at_end,
    )
    assert code == 0, log[-3000:]
    assert all(f["at"] < 0.9 for f in faults), f"a fault came after the stream: {faults}"
    assert not verdict.missing, verdict.summary()
    assert not verdict.unexpected, verdict.summary()
    assert not verdict.order_errors, verdict.summary()
    assert verdict.committed_at_end, verdict.summary()
    assert bound < N, f"bound {bound} is not below the input: the test could not fail"
    assert verdict.duplicates <= bound, verdict.summary()
