"""Kafka consume → handler → produce through the runner, against a raw confluent-kafka loop.

Three measurements, each with its baseline in the same run:

1. throughput: N (default 1M) x 100 B messages from one input topic to a fresh output
   topic, acknowledged after delivery. Raw: ``consume(1000)`` → ``produce`` with a
   delivery callback that records the delivered source offset → ``store_offsets`` per
   batch (auto-commit), final flush + commit. Library: ``Runner`` with the same handler
   over ``kafka.new_consumer`` / ``kafka.new_producer``. Both get the same librdkafka
   properties (the library's own, computed from the same config). Interleaved pairs;
   time from the first message to the end of close. The runner is measured as the command
   runs it: it moves the objects alive at its start out of the garbage collector's way
   (``gc.freeze()``, ``RunnerSettings.freeze_gc``) and raises the collector's
   first-generation threshold while it runs (``RunnerSettings.gc_threshold``); the raw
   loop leaves the collector as it is. A second baseline, raw+gc, is the same raw loop
   under the runner's collector settings, so the ratio without that help is reported too.
2. latency at a fixed 1 000 msg/s: a generator stamps each message, the pipeline (a
   subprocess: ``streamprocessor run bench/bench_pipeline.py:copy`` or the raw loop)
   copies it, a reader computes receive - stamp. Same ``linger.ms`` and
   ``fetch.wait.max.ms`` on both.
3. memory: 10M x 100 B lines streamed through ``streamprocessor run … :copy`` from a pipe
   to /dev/null (DRY_RUN); RSS sampled, growth after warm-up (the first 10 %) reported.

Run: ``STREAMPROCESSOR_TEST_KAFKA_BROKERS=host:port .venv/bin/python bench/bench_pipeline.py
[throughput|latency|memory|all] [--n N] [--pairs P] [--seconds S]``.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import time
from collections import deque
from pathlib import Path
from typing import Any

from streamprocessor import Message, options
from streamprocessor.runner import Runner, RunnerSettings
from streamprocessor.util import COORDINATOR

ROOT = Path(__file__).resolve().parents[1]
SIZE = 100


def copy(msg: Message) -> Message:
    """The handler of every measurement: a new message with the same value and key."""
    return Message(value=msg.value, key=msg.key)


# -- shared set-up ---------------------------------------------------------------------


def _kt() -> Any:
    from streamprocessor.clients.kafka import testing as kt

    return kt


#: consumer properties given to both sides on top of the library's defaults (--fetch-bytes)
CONSUMER_EXTRA: dict[str, str] = {}
_PRODUCER_KEYS = ("linger.ms",)


def lib_options(brokers: str, src: str, dst: str, group: str, **props: str) -> tuple[Any, Any]:
    c = [options.kafka_broker(brokers), options.kafka_topic(src), options.kafka_group_id(group),
         options.kafka_offset_initial("beginning")]
    p = [options.kafka_broker(brokers), options.kafka_topic(dst)]
    cprops = {**CONSUMER_EXTRA, **{k: v for k, v in props.items() if k not in _PRODUCER_KEYS}}
    pprops = {k: v for k, v in props.items() if k in _PRODUCER_KEYS}
    if cprops:
        c.append(options.kafka_librdkafka_config(cprops))
    if pprops:
        p.append(options.kafka_librdkafka_config(pprops))
    return c, p


def raw_properties(brokers: str, src: str, dst: str, group: str,
                   **props: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the librdkafka properties the library would use, for the raw loop."""
    from streamprocessor.clients.kafka._properties import consumer_properties, producer_properties
    from streamprocessor.config import new_consumer_config, new_producer_config

    c, p = lib_options(brokers, src, dst, group, **props)
    return (consumer_properties(new_consumer_config(*c)),
            producer_properties(new_producer_config(*p)))


def fill_topic(brokers: str, topic: str, n: int) -> None:
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": brokers, "linger.ms": 50, "compression.codec": "lz4"})
    value = b"x" * SIZE
    for i in range(n):
        while True:
            try:
                p.produce(topic, value, b"k%d" % (i % 100))
                break
            except BufferError:
                p.poll(0.05)
        if i % 10_000 == 0:
            p.poll(0)
    assert p.flush(60) == 0


def count(brokers: str, topic: str) -> int:
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": brokers, "group.id": "bench-count"})
    try:
        md = c.list_topics(topic, timeout=10).topics[topic]
        return sum(c.get_watermark_offsets(TopicPartition(topic, p), 10)[1]
                   for p in md.partitions)
    finally:
        c.close()


# -- 1. throughput ---------------------------------------------------------------------


def raw_throughput(brokers: str, src: str, dst: str, n: int) -> float:
    from confluent_kafka import Consumer, Producer, TopicPartition

    cprops, pprops = raw_properties(brokers, src, dst, _kt().random_name("raw"))
    c, p = Consumer(cprops), Producer(pprops)
    c.subscribe([src])
    inflight: deque[int] = deque()
    delivered = [-1]

    def on_delivery(err: Any, msg: Any) -> None:  # in order: one output partition
        if err is not None:
            raise RuntimeError(err)
        delivered[0] = inflight.popleft()

    done, stored, t0 = 0, -1, 0.0
    while done < n:
        batch = c.consume(1000, 0) or c.consume(1, 0.1)
        if batch and not t0:
            t0 = time.perf_counter()
        for m in batch:
            if m.error() is not None:
                continue
            while True:
                try:
                    p.produce(dst, m.value(), m.key(), on_delivery=on_delivery)
                    break
                except BufferError:
                    p.poll(0.01)
            inflight.append(m.offset())
            done += 1
        p.poll(0)
        if delivered[0] > stored:
            stored = delivered[0]
            c.store_offsets(offsets=[TopicPartition(src, 0, stored + 1)])
    p.flush(60)
    c.store_offsets(offsets=[TopicPartition(src, 0, delivered[0] + 1)])
    c.commit(asynchronous=False)
    c.close()
    return time.perf_counter() - t0


def raw_gc_throughput(brokers: str, src: str, dst: str, n: int) -> float:
    """The raw loop under the collector settings the runner uses (a second baseline).

    The runner's ``gc.freeze()`` and raised first-generation threshold would speed up a
    hand-written loop too; this measures how much of the ratio they are.
    """
    settings = RunnerSettings()
    old = gc.get_threshold()
    gc.freeze()
    if settings.gc_threshold is not None:
        gc.set_threshold(settings.gc_threshold, *old[1:])
    try:
        return raw_throughput(brokers, src, dst, n)
    finally:
        gc.set_threshold(*old)
        gc.unfreeze()


def lib_throughput(brokers: str, src: str, dst: str, n: int) -> float:
    from streamprocessor.clients import kafka

    copts, popts = lib_options(brokers, src, dst, _kt().random_name("lib"))
    seen, t0 = 0, 0.0

    def handler(msg: Message) -> Message:
        # counting costs about what the raw loop's ``done += 1`` and ``while`` test do
        nonlocal seen, t0
        seen += 1
        if seen >= n or seen == 1:
            if seen == 1:
                t0 = time.perf_counter()
            if seen == n:
                COORDINATOR.stop_consumers()  # as a SIGTERM would: finish, flush, commit
        return Message(value=msg.value, key=msg.key)

    with kafka.new_consumer(*copts) as c, kafka.new_producer(*popts) as p:
        Runner(c, {"producer": p}, handler, RunnerSettings(handler_timeout=None)).run()
    COORDINATOR.reset()
    return time.perf_counter() - t0


def loop_throughput(brokers: str, src: str, dst: str, n: int) -> float:
    """The documented loop without the runner: how much of the cost is the runner's."""
    from streamprocessor.clients import kafka

    copts, popts = lib_options(brokers, src, dst, _kt().random_name("loop"))
    seen, t0 = 0, 0.0
    with kafka.new_consumer(*copts) as c, kafka.new_producer(*popts) as p:
        for msg in c:
            seen += 1
            if seen == 1:
                t0 = time.perf_counter()
            p.send(Message(value=msg.value, key=msg.key))
            c.ack(msg)
            if seen == n:
                break
    return time.perf_counter() - t0


def throughput(brokers: str, n: int, pairs: int) -> None:
    kt = _kt()
    src = kt.create_topic(brokers, partitions=1)
    t = time.perf_counter()
    fill_topic(brokers, src, n)
    print(f"# filled {src} with {n} x {SIZE} B in {time.perf_counter() - t:.1f}s", flush=True)
    raws, libs, loops, ratios, outs = [], [], [], [], []
    gc_raws: list[float] = []
    gc_ratios: list[float] = []
    fns = {"raw": raw_throughput, "lib": lib_throughput, "loop": loop_throughput,
           "raw+gc": raw_gc_throughput}
    try:
        for i in range(pairs):
            order = (("raw", "lib", "raw+gc", "loop") if i % 2 == 0
                     else ("loop", "raw+gc", "lib", "raw"))
            got = {}
            for which in order:
                dst = kt.create_topic(brokers, partitions=1)
                outs.append(dst)
                fn = fns[which]
                cpu = time.process_time()
                got[which] = fn(brokers, src, dst, n)
                cpu = time.process_time() - cpu
                assert count(brokers, dst) == n, f"{which}: {count(brokers, dst)} != {n}"
                print(f"  pair {i + 1} {which}: {got[which]:.2f}s "
                      f"({n / got[which] / 1e3:.0f}k msg/s), process CPU {cpu:.2f}s",
                      flush=True)
            raws.append(got["raw"])
            libs.append(got["lib"])
            loops.append(got["loop"])
            gc_raws.append(got["raw+gc"])
            ratios.append(got["raw"] / got["lib"])
            gc_ratios.append(got["raw+gc"] / got["lib"])
    finally:
        kt.delete_topics(brokers, [src, *outs])
    for name, xs in (("raw     ", raws), ("raw+gc  ", gc_raws), ("library ", libs)):
        med = statistics.median(xs)
        print(f"{name} median {med:.2f}s ({n / med / 1e3:.0f}k msg/s)")
    print(f"loop     median {statistics.median(loops):.2f}s (the documented loop, no runner; "
          f"runner/loop throughput {statistics.median(loops) / statistics.median(libs):.2f})")
    print(f"ratio library/raw throughput: median {statistics.median(ratios):.2f} "
          f"range [{min(ratios):.2f}, {max(ratios):.2f}] (target >= 0.6)")
    print(f"ratio library/raw+gc throughput (the raw loop with the runner's collector "
          f"settings): median {statistics.median(gc_ratios):.2f} "
          f"range [{min(gc_ratios):.2f}, {max(gc_ratios):.2f}]")


def describe() -> None:
    import confluent_kafka

    print(f"# {time.strftime('%Y-%m-%d')} {platform.machine()}, {os.cpu_count()} cpus, "
          f"Python {platform.python_version()}, confluent-kafka {confluent_kafka.__version__}, "
          f"librdkafka {confluent_kafka.libversion()[0]}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", nargs="?", default="all",
                    choices=["throughput", "latency", "memory", "all"])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--memory-n", type=int, default=10_000_000)
    ap.add_argument("--fetch-bytes", type=int, default=0,
                    help="max.partition.fetch.bytes for both sides (0: librdkafka's 1 MB)")
    args = ap.parse_args()
    if args.fetch_bytes:
        CONSUMER_EXTRA["max.partition.fetch.bytes"] = str(args.fetch_bytes)
        print(f"# both consumers: max.partition.fetch.bytes={args.fetch_bytes}")
    brokers = os.environ.get("STREAMPROCESSOR_TEST_KAFKA_BROKERS", "")
    describe()
    if args.what in ("throughput", "all"):
        throughput(brokers, args.n, args.pairs)
    if args.what in ("latency", "all"):
        from bench_pipeline_latency import latency

        latency(brokers, args.seconds)
    if args.what in ("memory", "all"):
        from bench_pipeline_memory import memory, memory_kafka

        memory(args.memory_n)
        memory(args.memory_n, concurrency=4)
        if brokers:
            memory_kafka(brokers, args.memory_n)


if __name__ == "__main__":
    main()
