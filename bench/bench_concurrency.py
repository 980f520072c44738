"""``--concurrency`` on Kafka: an I/O-bound handler over several partitions.

N messages spread evenly over P partitions go through the runner with ``concurrency=W``
and a handler that waits ``--wait`` seconds (``time.sleep``, as an HTTP call or a query
would) and returns a copy. The baseline, run in the same process right before, is the
handler alone on W threads of a ``ThreadPoolExecutor`` (no Kafka): the throughput perfect
parallelism would give on this machine. The ratio says how much of it the runner keeps;
head-of-line blocking (one busy partition holding up the others) shows as a low ratio.
Also reported: how often the consumer paused a partition (see docs/CLI.md, Concurrency).

Run: ``STREAMPROCESSOR_TEST_KAFKA_BROKERS=host:port .venv/bin/python bench/bench_concurrency.py
[--n N] [--partitions P] [--workers W] [--wait S] [--rounds R]``.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from streamprocessor import Message, options
from streamprocessor.runner import Runner, RunnerSettings


class _Pauses(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("Paused "):
            self.count += 1


def fill(brokers: str, topic: str, n: int, partitions: int) -> None:
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": brokers, "linger.ms": 20})
    for i in range(n):
        while True:
            try:
                p.produce(topic, b"x" * 100, b"k%d" % i, partition=i % partitions)
                break
            except BufferError:
                p.poll(0.05)
    assert p.flush(60) == 0


def ideal(n: int, workers: int, wait: float) -> float:
    """Throughput of the handler's wait alone on ``workers`` threads (msg/s)."""
    t0 = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda _: time.sleep(wait), range(n)))
    return n / (time.perf_counter() - t0)


def runner(brokers: str, src: str, n: int, workers: int, wait: float) -> tuple[float, int]:
    """Throughput of the runner (msg/s) and the number of partition pauses."""
    from streamprocessor.clients import kafka
    from streamprocessor.clients.kafka import testing as kt

    dst = kt.create_topic(brokers, partitions=1)
    log = logging.getLogger("streamprocessor")
    pauses = _Pauses()
    log.addHandler(pauses)
    old_level, log.level = log.level, logging.DEBUG
    old_propagate, log.propagate = log.propagate, False
    c = kafka.new_consumer(*kt.consumer_options(brokers, src, kt.random_name("conc")),
                           options.manual_interrupt_handling())
    p = kafka.new_producer(*kt.producer_options(brokers, dst))
    lock = threading.Lock()
    seen = [0]
    t0 = [0.0]

    def handler(msg: Message) -> Message:
        time.sleep(wait)
        with lock:
            seen[0] += 1
            if seen[0] == 1:
                t0[0] = time.perf_counter()
            elif seen[0] == n:
                c.interrupt()  # as SIGTERM does: finish, flush, commit
        return Message(value=msg.value, key=msg.key)

    try:
        Runner(c, {"producer": p}, handler,
               RunnerSettings(concurrency=workers, handler_timeout=None)).run()
        took = time.perf_counter() - t0[0]
    finally:
        c.close()
        p.close()
        log.removeHandler(pauses)
        log.level, log.propagate = old_level, old_propagate
        kt.delete_topics(brokers, [dst])
    assert seen[0] == n, f"handled {seen[0]} of {n}"
    return n / took, pauses.count


def main() -> None:
    from streamprocessor.clients.kafka import testing as kt

    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--wait", type=float, default=0.001)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    brokers = os.environ["STREAMPROCESSOR_TEST_KAFKA_BROKERS"]
    src = kt.create_topic(brokers, partitions=args.partitions)
    ratios: list[float] = []
    try:
        fill(brokers, src, args.n, args.partitions)
        print(f"# {args.n} messages over {args.partitions} partitions, {args.workers} "
              f"workers, handler waits {args.wait * 1000:g} ms", flush=True)
        for i in range(args.rounds):
            base = ideal(args.n, args.workers, args.wait)
            rate, paused = runner(brokers, src, args.n, args.workers, args.wait)
            ratios.append(rate / base)
            print(f"  round {i + 1}: ideal {base:.0f} msg/s, runner {rate:.0f} msg/s "
                  f"({paused} partition pauses)", flush=True)
    finally:
        kt.delete_topics(brokers, [src])
    print(f"ratio runner/ideal throughput: median {statistics.median(ratios):.2f} "
          f"range [{min(ratios):.2f}, {max(ratios):.2f}]")


if __name__ == "__main__":
    main()
