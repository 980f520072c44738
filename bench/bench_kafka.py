"""Kafka produce and consume+ack throughput against raw confluent-kafka loops.

Both sides of every pair use the same broker, a fresh topic (produce) or a fresh group
(consume), and the same librdkafka properties: the ones the library computes from its
default config (``producer_properties`` / ``consumer_properties``), passed verbatim to
the raw clients. Pairs are interleaved, the order alternating; the report gives the
median of the per-pair throughput ratios (library / baseline) and their range.

produce (N x 100 B, one partition, timed from the first send until flush() returns 0):

- ``raw-dr``: ``produce(topic, value, None, -1, callback, None, 0, None)`` with a
  per-message callback object that appends the message's number to a deque (the same
  delivery-report work the library does), ``poll(0)`` every 1000, BufferError → poll and
  retry; the target is library >= 0.9 x this;
- ``raw``: ``produce(topic, value)`` without callback, ``poll(0)`` every 1000;
- ``lib``: ``producer.send(msg)`` over pre-built ``Message`` objects (frozen out of the
  garbage collector's way, ``gc.freeze()``), then ``flush()``.

consume (N x 100 B seeded once into one partition; timed from the first message to the
N-th; every message's value is read):

- ``raw``: ``consume(1000, 0)``, blocking ``consume(1, 0.2)`` only when that was empty,
  ``store_offsets`` of the last offset + 1 once per batch; the target is library >= 0.7x;
- ``lib``: ``for m in consumer: m.value; consumer.ack(m)``.

Run: ``STREAMPROCESSOR_TEST_KAFKA_BROKERS=host:port .venv/bin/python bench/bench_kafka.py
[produce|consume|all] [--n N] [--pairs P]`` (without the variable a broker is started).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import confluent_kafka
from confluent_kafka import Consumer, Producer, TopicPartition

from streamprocessor import Message, options
from streamprocessor.clients import kafka
from streamprocessor.clients.kafka import testing as kt
from streamprocessor.clients.kafka._properties import consumer_properties, producer_properties
from streamprocessor.config import new_consumer_config, new_producer_config

SIZE = 100
VALUE = b"x" * SIZE


def producer_opts(brokers: str, topic: str) -> list[Any]:
    return [
        options.kafka_broker(brokers),
        options.kafka_topic(topic),
        options.manual_interrupt_handling(),
    ]


#: freeze the pre-built input messages out of the garbage collector's way (--no-freeze)
FREEZE = True

#: librdkafka properties both consumers get on top of the library's defaults (--fetch-bytes)
CONSUMER_EXTRA: dict[str, str] = {}


def consumer_opts(brokers: str, topic: str, group: str) -> list[Any]:
    return [
        options.kafka_broker(brokers),
        options.kafka_topic(topic),
        options.kafka_group_id(group),
        options.manual_interrupt_handling(),
        options.kafka_librdkafka_config(CONSUMER_EXTRA),
    ]


# -- produce ---------------------------------------------------------------------------


class _Report:
    """The baseline's per-message delivery callback: append the number to a deque."""

    __slots__ = ("done", "seq")

    def __init__(self, seq: int, done: deque[Any]) -> None:
        self.seq = seq
        self.done = done

    def __call__(self, err: Any, msg: Any) -> None:
        if err is None:
            self.done.append(self.seq)
        else:
            self.done.append((self.seq, err))


def produce_raw(brokers: str, topic: str, n: int, reports: bool) -> float:
    props = producer_properties(new_producer_config(*producer_opts(brokers, topic), environ={}))
    p = Producer(props)
    produce, poll = p.produce, p.poll
    produce(topic, b"warm-up")  # connected, metadata and producer id known before timing
    assert p.flush(30) == 0
    done: deque[Any] = deque()
    t0 = time.perf_counter()
    for i in range(n):
        while True:
            try:
                if reports:
                    produce(topic, VALUE, None, -1, _Report(i, done), None, 0, None)
                else:
                    produce(topic, VALUE)
                break
            except BufferError:
                poll(0.05)
        if i % 1000 == 0:
            poll(0)
    while p.flush(1.0):
        pass
    t1 = time.perf_counter()
    if reports:
        assert len(done) == n and all(type(d) is int for d in done)
    return t1 - t0


def produce_lib(brokers: str, topic: str, n: int) -> float:
    msgs = [Message(value=VALUE) for _ in range(n)]
    if FREEZE:
        gc.freeze()  # the pre-built messages are input, not the library's garbage to scan
    with kafka.new_producer(*producer_opts(brokers, topic)) as p:
        send = p.send
        send(Message(value=b"warm-up"))  # the same warm-up as the baselines
        p.flush(30)
        t0 = time.perf_counter()
        for m in msgs:
            send(m)
        p.flush()
        t1 = time.perf_counter()
    gc.unfreeze()
    return t1 - t0


# -- consume ---------------------------------------------------------------------------


def seed(brokers: str, n: int) -> str:
    topic = kt.create_topic(brokers)
    p = Producer({"bootstrap.servers": brokers, "linger.ms": 50, "compression.codec": "lz4"})
    for i in range(n):
        while True:
            try:
                p.produce(topic, VALUE)
                break
            except BufferError:
                p.poll(0.05)
        if i % 10000 == 0:
            p.poll(0)
    assert p.flush(60) == 0
    return topic


def consume_raw(brokers: str, topic: str, n: int) -> float:
    group = kt.random_name("bench-raw")
    props = consumer_properties(
        new_consumer_config(*consumer_opts(brokers, topic, group), environ={})
    )
    c = Consumer(props)
    c.subscribe([topic])
    got = 0
    t0 = 0.0
    try:
        while got < n:
            msgs = c.consume(1000, 0)
            if not msgs:
                msgs = c.consume(1, 0.2)
                if not msgs:
                    continue
            if not got:
                t0 = time.perf_counter()
            last = None
            for m in msgs:
                if m.error() is not None:
                    continue
                m.value()
                last = m
                got += 1
            if last is not None:
                c.store_offsets(
                    offsets=[TopicPartition(last.topic(), last.partition(), last.offset() + 1)]
                )
        t1 = time.perf_counter()
    finally:
        c.close()
    return t1 - t0


def consume_lib(brokers: str, topic: str, n: int) -> float:
    group = kt.random_name("bench-lib")
    got = 0
    t0 = 0.0
    with kafka.new_consumer(*consumer_opts(brokers, topic, group)) as c:
        ack = c.ack
        for m in c:
            if not got:
                t0 = time.perf_counter()
            m.value  # noqa: B018 - read it, like the baseline
            ack(m)
            got += 1
            if got == n:
                break
        t1 = time.perf_counter()
    return t1 - t0


# -- driver ----------------------------------------------------------------------------


def pairs(name: str, pairs_n: int, n: int, runs: dict[str, Callable[[], float]]) -> dict[str, Any]:
    times: dict[str, list[float]] = {k: [] for k in runs}
    order = list(runs)
    for i in range(pairs_n):
        seq = order if i % 2 == 0 else list(reversed(order))
        for k in seq:
            gc.collect()
            t = runs[k]()
            times[k].append(t)
            print(json.dumps({"bench": name, "run": k, "pair": i, "seconds": round(t, 3),
                              "msg_per_s": round(n / t)}), flush=True)  # fmt: skip
    out: dict[str, Any] = {"bench": name, "n": n, "pairs": pairs_n}
    for k, ts in times.items():
        out[f"{k}_median_msg_per_s"] = round(n / statistics.median(ts))
        out[f"{k}_cv"] = round(statistics.pstdev(ts) / statistics.mean(ts), 3)
    for base in [k for k in runs if k != "lib"]:
        ratios = [b / lib for lib, b in zip(times["lib"], times[base], strict=True)]
        out[f"lib_vs_{base}_median"] = round(statistics.median(ratios), 3)
        out[f"lib_vs_{base}_range"] = [round(min(ratios), 3), round(max(ratios), 3)]
        out[f"lib_vs_{base}_best"] = round(min(times[base]) / min(times["lib"]), 3)
    return out


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    return {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "cpu": cpu,
        "nproc": os.cpu_count(),
        "load": os.getloadavg(),
        "python": platform.python_version(),
        "confluent_kafka": confluent_kafka.version()[0],
        "librdkafka": confluent_kafka.libversion()[0],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", nargs="?", default="all", choices=["produce", "consume", "all"])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument(
        "--fetch-bytes",
        type=int,
        default=0,
        help="max.partition.fetch.bytes for both consumers (0: librdkafka's 1 MiB)",
    )
    ap.add_argument("--no-freeze", action="store_true", help="leave the input to the GC")
    args = ap.parse_args(argv)
    global FREEZE
    FREEZE = not args.no_freeze
    if args.fetch_bytes:
        CONSUMER_EXTRA["max.partition.fetch.bytes"] = str(args.fetch_bytes)
    brokers = os.environ.get("STREAMPROCESSOR_TEST_KAFKA_BROKERS")
    cluster = None
    if not brokers:
        from streamprocessor.testing.kafka_broker import KafkaCluster

        cluster = KafkaCluster().start()
        brokers = cluster.bootstrap_servers
    print(json.dumps(machine()), flush=True)
    results = []
    try:
        n = args.n
        if args.what in ("produce", "all"):
            runs = {
                "raw-dr": lambda: produce_raw(brokers, kt.create_topic(brokers), n, True),
                "lib": lambda: produce_lib(brokers, kt.create_topic(brokers), n),
                "raw": lambda: produce_raw(brokers, kt.create_topic(brokers), n, False),
            }
            results.append(pairs("produce", args.pairs, n, runs))
        if args.what in ("consume", "all"):
            topic = seed(brokers, n)
            runs = {
                "raw": lambda: consume_raw(brokers, topic, n),
                "lib": lambda: consume_lib(brokers, topic, n),
            }
            results.append(pairs("consume", args.pairs, n, runs))
    finally:
        if cluster is not None:
            cluster.stop()
    for r in results:
        print(json.dumps(r), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
