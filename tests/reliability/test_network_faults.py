"""Network faults between the processor and the broker: quick and quiet recovery.

The broker advertises, on one of its listeners, the address of a :class:`FaultProxy`, so
every connection of the processor (bootstrap, metadata, fetch, produce, group) goes
through the proxy; the test's own clients use the direct listener. Input arrives at a
steady rate while the network is black-holed (connections stay open and fall silent) and
every connection is reset once a second, then healed. Then the link gets 100 ms of latency
each way, so produce requests are always in flight, and every connection is reset three
times, 5 s apart, while output flows: each reset must stall the output for less than 5 s
(a retry backoff of seconds, like the original's 15 s ``KAFKA_RETRY_BACKOFF``, stalls it
that long). After each heal the processor must be back to its pre-fault pace within 5 s
(every input produced before the heal copied by then, and later inputs copied as promptly
as before the fault), lose nothing, and have logged few warnings meanwhile.
"""

from __future__ import annotations

import json
import math
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from oracle import (
    InputSet,
    Processor,
    create_pair,
    end_offsets,
    processor_env,
    random_name,
    verify,
)

from streamprocessor.testing.faultproxy import FaultProxy
from streamprocessor.testing.kafka_broker import KafkaCluster
from streamprocessor.util.throttle import DEFAULT_INTERVAL

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

PARTITIONS = 3
RATE = 200.0  # input records per second
BLACK_HOLE = 15.0  # seconds
RECOVERY = 5.0  # seconds after the heal by which the processor must have caught up
LATENCY = 0.1  # seconds each way while resetting: every reset finds requests in flight
RESET_EVERY = 5.0  # seconds between two resets: a stall of RECOVERY shows on each


@pytest.fixture(scope="module")
def proxied_kafka() -> Iterator[tuple[KafkaCluster, FaultProxy]]:
    """One broker whose PROXIED listener is reached through a fault proxy."""
    with FaultProxy() as proxy:
        cluster = KafkaCluster(nodes=1, auto_create_topics=False,
                               advertise={"PROXIED": proxy.port})
        with cluster:
            host, port = cluster.nodes[0].address_of("PROXIED").rsplit(":", 1)
            proxy.upstream = (host, int(port))
            yield cluster, proxy


class SteadyInput:
    """Writes keyed records at ``rate`` per second in a thread; keeps S_in and send times."""

    def __init__(self, brokers: str, topic: str, rate: float) -> None:
        self.topic = topic
        self._brokers = brokers
        self._rate = rate
        self._p = Producer({"bootstrap.servers": brokers, "enable.idempotence": True,
                            "acks": "all", "linger.ms": 5})
        self.records: set[tuple[int, int]] = set()
        #: (partition, offset) → when it was sent (seconds since the epoch, CreateTime)
        self.sent_at: dict[tuple[int, int], float] = {}
        self.errors: list[Any] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="steady-input", daemon=True)

    def _report(self, err: Any, msg: Any) -> None:
        if err is not None:
            self.errors.append(err)
            return
        key = (msg.partition(), msg.offset())
        self.records.add(key)
        self.sent_at[key] = msg.timestamp()[1] / 1000.0

    def _run(self) -> None:
        started = time.monotonic()
        i = 0
        while not self._stop.is_set():
            seq = str(i).encode()
            self._p.produce(self.topic, seq, seq, on_delivery=self._report)
            i += 1
            self._p.poll(0)
            ahead = started + i / self._rate - time.monotonic()
            if ahead > 0:
                self._stop.wait(ahead)

    def __enter__(self) -> SteadyInput:
        self._thread.start()
        return self

    def finish(self) -> InputSet:
        """Stop writing, wait for every delivery, return S_in."""
        self._stop.set()
        self._thread.join(10)
        left = self._p.flush(30)
        assert left == 0 and not self.errors, f"input: {left} undelivered, {self.errors[:3]}"
        ends = end_offsets(self._brokers, self.topic, PARTITIONS)
        expected = {(p, o) for p, end in ends.items() for o in range(end)}
        assert self.records == expected, "input: delivery reports do not cover every offset"
        return InputSet(self.topic, PARTITIONS, set(self.records), ends)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()


def warnings_between(log: str, start: float, end: float) -> list[dict[str, Any]]:
    """The WARNING and ERROR records (JSON lines) logged within [start, end] (epoch s)."""
    found = []
    for line in log.splitlines():
        doc = json.loads(line)  # every line the processor writes is one JSON object
        if doc["level"] not in ("warning", "error", "critical"):
            continue
        at = datetime.fromisoformat(doc["time"]).timestamp()
        if start - 1 <= at <= end + 1:
            found.append(doc)
    return found


def cause_of(record: dict[str, Any]) -> tuple[str, ...]:
    """What the log throttle counts as one cause: the site, and a Kafka error's client and code.

    A repeated line says how many were left out after the message (``… (and 9 more like
    it in the last 10s)``); that tail is not part of the cause.
    """
    site = record["message"].split(" (and ", 1)[0][:50]
    return (record["logger"], site, record.get("client", ""), record.get("code", ""))


def recovery(
    feed: SteadyInput, first_copy: dict[tuple[int, int], float], fault: float, healed: float
) -> tuple[float, float, float]:
    """How long after ``healed`` the last input sent before it was copied, the p99 lag
    (send → copy) in the 3 s before ``fault``, and the worst lag of the inputs sent 5 to 8 s
    after the heal."""
    sent = feed.sent_at
    lag = {k: first_copy[k] - t for k, t in sent.items() if k in first_copy}
    before = [v for k, v in lag.items() if fault - 4 < sent[k] < fault - 1]
    caught_up = max(first_copy.get(k, math.inf) for k, t in sent.items() if t < healed) - healed
    after = [v for k, v in lag.items() if healed + RECOVERY < sent[k] < healed + RECOVERY + 3]
    return caught_up, statistics.quantiles(before, n=100)[98], max(after)


def stall_after(
    feed: SteadyInput, first_copy: dict[tuple[int, int], float], at: float
) -> float:
    """How long after ``at`` the last input sent in the second before it was copied."""
    return max(first_copy.get(k, math.inf)
               for k, t in feed.sent_at.items() if at - 1 < t < at) - at


def test_black_hole_and_resets_recover_within_5s_quietly_and_lose_nothing(
    proxied_kafka: tuple[KafkaCluster, FaultProxy],
    log_dir: Path,
    figures: Callable[..., None],
) -> None:
    cluster, proxy = proxied_kafka
    direct = cluster.bootstrap_servers
    src, dst = create_pair(direct, PARTITIONS)
    group = random_name("g")
    env = processor_env(proxy.address, src, dst, group, 0.0, STREAMPROCESSOR_LOG_FORMAT="json")
    proc = Processor("net", env, log_dir)
    with SteadyInput(direct, src, RATE) as feed:
        proc.start()
        try:
            time.sleep(8.0)  # joined the group, copying at the input's pace
            proc.check_alive()
            hole = time.time()
            proxy.black_hole()
            while time.time() < hole + BLACK_HOLE:
                proxy.cut()  # a flapping link: reconnects succeed, then hang, then reset
                time.sleep(1.0)
            hole_healed = time.time()
            proxy.heal()
            time.sleep(RECOVERY + 4)  # the black hole's "after" inputs are copied by then
            proxy.set_latency(LATENCY)
            time.sleep(4.0)  # the pace with latency, before the resets
            cuts: list[float] = []
            for _ in range(3):
                cuts.append(time.time())
                assert proxy.cut(), "no connection went through the proxy"
                time.sleep(RESET_EVERY)
            resets, reset = cuts[0], cuts[-1]
            time.sleep(2 * RECOVERY - RESET_EVERY)
            proxy.heal()
            time.sleep(2.0)  # the last inputs are copied before the stop
            proc.check_alive()
            inp = feed.finish()
            code, _ = proc.terminate(20)
        finally:
            proxy.heal()
            proc.stop()
    log = proc.log_text()
    verdict = verify(direct, inp, dst, PARTITIONS, group)
    first_copy: dict[tuple[int, int], float] = {}
    for r in sorted(verdict.outputs, key=lambda r: r.timestamp):
        first_copy.setdefault(r.src, r.timestamp)
    stalls = [round(stall_after(feed, first_copy, at), 2) for at in cuts]
    figures(fault="resets in flight", stalls=stalls)
    assert code == 0, proc.log_tail()
    assert not verdict.missing, verdict.summary()
    assert verdict.committed_at_end, verdict.summary()
    assert max(stalls) < RECOVERY, f"output stalled {stalls}s after the resets"

    warned = warnings_between(log, hole, reset + RECOVERY)
    causes = Counter(cause_of(w) for w in warned)
    for what, fault, healed in (("black hole", hole, hole_healed), ("resets", resets, reset)):
        caught_up, usual, worst_after = recovery(feed, first_copy, fault, healed)
        figures(fault=what, caught_up_after_heal=round(caught_up, 2),
                lag_p99_before=round(usual, 3), lag_max_after=round(worst_after, 3))
        assert caught_up <= RECOVERY, (
            f"{what}: inputs sent before the heal were copied up to {caught_up:.1f}s after it"
        )
        assert worst_after <= max(1.0, 3 * usual), (
            f"{what}: copies {RECOVERY:g}s after the heal lag {worst_after:.2f}s (before the "
            f"fault: p99 {usual:.2f}s)"
        )
    figures(warnings=len(warned), causes=len(causes), duplicates=verdict.duplicates)
    # one line per cause per 10 s interval, and a handful of causes
    window = reset + RECOVERY - hole
    per_cause = math.floor(window / DEFAULT_INTERVAL) + 1
    assert len(warned) <= 15 and max(causes.values()) <= per_cause, (
        f"{len(warned)} warnings in {window:.0f}s (at most {per_cause} per cause): "
        f"{causes.most_common(8)}"
    )
