"""Latency part of bench_pipeline: 1 000 msg/s through the raw loop and through the runner.

Run through ``bench/bench_pipeline.py latency``; ``raw-pipe`` runs the raw pipeline as a
process of its own.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import deque
from typing import Any

from bench_pipeline import ROOT, SIZE, _kt, raw_properties

HANDLER = f"{ROOT / 'bench' / 'bench_pipeline.py'}:copy"

LINGER_MS, FETCH_WAIT_MS = "1", "10"


def raw_pipe(brokers: str, src: str, dst: str, group: str) -> None:
    """The raw pipeline as a process of its own (``raw-pipe`` command); ends on SIGTERM."""
    from confluent_kafka import Consumer, Producer, TopicPartition

    cprops, pprops = raw_properties(brokers, src, dst, group, **{
        "linger.ms": LINGER_MS, "fetch.wait.max.ms": FETCH_WAIT_MS})
    c, p = Consumer(cprops), Producer(pprops)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    c.subscribe([src], on_assign=lambda *_: print("AssignedPartitions", file=sys.stderr,
                                                  flush=True))
    inflight: deque[int] = deque()
    delivered = [-1]

    def on_delivery(err: Any, msg: Any) -> None:
        delivered[0] = inflight.popleft()

    stored = -1
    while not stop.is_set():
        batch = c.consume(1000, 0) or c.consume(1, 0.1)
        for m in batch:
            if m.error() is None:
                p.produce(dst, m.value(), m.key(), on_delivery=on_delivery)
                inflight.append(m.offset())
        p.poll(0)
        if delivered[0] > stored:
            stored = delivered[0]
            c.store_offsets(offsets=[TopicPartition(src, 0, stored + 1)])
    p.flush(10)
    c.close()


def _pipeline(which: str, brokers: str, src: str, dst: str) -> subprocess.Popen[bytes]:
    group = _kt().random_name(which)
    env = dict(os.environ)
    if which == "raw":
        argv = [sys.executable, __file__, "raw-pipe", brokers, src, dst, group]
    else:
        argv = [sys.executable, "-m", "streamprocessor", "run", HANDLER]
        env.update(CONSUMER_CLIENT_TYPE="kafka", CONSUMER_KAFKA_BROKERS=brokers,
                   CONSUMER_KAFKA_TOPICS=src, CONSUMER_KAFKA_GROUP_ID=group,
                   CONSUMER_KAFKA_LIBRDKAFKA_CONFIG=f"fetch.wait.max.ms={FETCH_WAIT_MS}",
                   PRODUCER_CLIENT_TYPE="kafka", PRODUCER_KAFKA_BROKERS=brokers,
                   PRODUCER_KAFKA_TOPIC=dst,
                   PRODUCER_KAFKA_LIBRDKAFKA_CONFIG=f"linger.ms={LINGER_MS}",
                   STREAMPROCESSOR_LOG_LEVEL="info")  # the assignment is logged at info
    proc = subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            cwd=ROOT)
    assigned = threading.Event()

    def drain(stream: Any) -> None:  # read stderr to its end; say when assigned
        for line in iter(stream.readline, b""):
            if b"AssignedPartitions" in line:
                assigned.set()

    threading.Thread(target=drain, args=(proc.stderr,), daemon=True).start()
    if not assigned.wait(60):
        proc.kill()
        raise TimeoutError(f"{which} pipeline not assigned after 60s")
    return proc


def measure_latency(which: str, brokers: str, seconds: float, rate: int) -> list[float]:
    from confluent_kafka import Consumer, Producer, TopicPartition

    kt = _kt()
    src, dst = kt.create_topic(brokers), kt.create_topic(brokers)
    proc = _pipeline(which, brokers, src, dst)
    reader = Consumer({"bootstrap.servers": brokers, "group.id": kt.random_name("reader"),
                       "fetch.wait.max.ms": int(FETCH_WAIT_MS), "enable.auto.commit": False})
    reader.assign([TopicPartition(dst, 0, 0)])
    samples: list[float] = []
    total = int(seconds * rate)
    stop = threading.Event()

    def generate() -> None:
        gen = Producer({"bootstrap.servers": brokers, "linger.ms": 0})
        start = time.perf_counter()
        for i in range(total):
            wait = start + i / rate - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            gen.produce(src, str(time.time_ns()).encode().ljust(SIZE, b" "))
            gen.poll(0)
        gen.flush(10)
        stop.set()

    g = threading.Thread(target=generate, daemon=True)
    g.start()
    got = 0
    deadline = time.monotonic() + seconds + 60
    while got < total and time.monotonic() < deadline:
        # consume(N, t) waits for N messages or t (trap 3): take what is there, else one
        for m in reader.consume(100, 0) or reader.consume(1, 0.05):
            if m.error() is None:
                samples.append((time.time_ns() - int(m.value()[:19])) / 1e6)
                got += 1
    reader.close()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    kt.delete_topics(brokers, [src, dst])
    warm = int(len(samples) * 0.2)  # the first 20 %: connections, group, caches
    return samples[warm:]


def _pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(int(len(s) * p), len(s) - 1)]


def latency(brokers: str, seconds: float, rate: int = 1000) -> None:
    res = {}
    for which in ("raw", "lib", "raw", "lib"):
        xs = measure_latency(which, brokers, seconds, rate)
        p50, p99 = _pct(xs, 0.50), _pct(xs, 0.99)
        res.setdefault(which, []).append((p50, p99))
        print(f"  {which}: {len(xs)} samples p50 {p50:.2f} ms p99 {p99:.2f} ms", flush=True)
    r50 = statistics.median(x[0] for x in res["raw"])
    r99 = statistics.median(x[1] for x in res["raw"])
    l50 = statistics.median(x[0] for x in res["lib"])
    l99 = statistics.median(x[1] for x in res["lib"])
    print(f"latency at {rate} msg/s, linger.ms={LINGER_MS}, fetch.wait.max.ms={FETCH_WAIT_MS}:")
    print(f"raw      p50 {r50:.2f} ms  p99 {r99:.2f} ms")
    print(f"library  p50 {l50:.2f} ms  p99 {l99:.2f} ms  "
          f"(diff p50 {l50 - r50:+.2f} ms, target <= 1; p99 {l99 - r99:+.2f} ms, target <= 5)")



if __name__ == "__main__" and sys.argv[1:2] == ["raw-pipe"]:
    raw_pipe(*sys.argv[2:6])
