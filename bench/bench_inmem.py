"""In-memory consume → produce of 1M messages against a bare Python loop.

Both sides start from the same 1M stored messages and end with 1M messages in an output
container. The baseline builds the same ``Message`` objects from the stored tuples and
moves them to a list; the library runs the documented loop
``for m in consumer: producer.send(m); consumer.ack(m)`` on two ``InmemStore``s.
Pairs are interleaved (baseline, library, library, baseline, …) with the same GC settings.

Run: ``.venv/bin/python bench/bench_inmem.py [N] [PAIRS]``
"""

from __future__ import annotations

import gc
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime

from streamprocessor import Message, options
from streamprocessor.clients import inmem
from streamprocessor.stores import InmemStore
from streamprocessor.stores.inmem import snapshot_of


def make_store(n: int) -> InmemStore:
    store = InmemStore()
    store.add_many([Message(value=b"x" * 100, key=b"k%d" % (i % 100)) for i in range(n)])
    return store


def baseline(store: InmemStore) -> tuple[float, float]:
    src = store.snapshots()
    out: list[Message] = []
    c0 = time.process_time()
    t0 = time.perf_counter()
    for value, key, ts, tags, ct, pt, off in src:
        m = Message(value, key, ts, dict(tags) if tags else None, ct, pt, off)
        out.append(m)
    t1 = time.perf_counter()
    c1 = time.process_time()
    assert len(out) == len(src)
    return t1 - t0, c1 - c0


def library(store: InmemStore) -> tuple[float, float]:
    out = InmemStore()
    c0 = time.process_time()
    t0 = time.perf_counter()
    with (
        inmem.new_consumer(options.inmem_store(store)) as c,
        inmem.new_producer(options.inmem_store(out)) as p,
    ):
        for m in c:
            p.send(m)
            c.ack(m)
    t1 = time.perf_counter()
    c1 = time.process_time()
    assert len(out) == len(store)
    return t1 - t0, c1 - c0


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    pairs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    store = make_store(n)
    snapshot_of(Message())  # warm imports
    gc.collect()
    ratios, cpu_ratios, base_t, lib_t = [], [], [], []
    for i in range(pairs):
        order = (baseline, library) if i % 2 == 0 else (library, baseline)
        times = {}
        for fn in order:
            gc.collect()
            times[fn.__name__] = fn(store)
        base_t.append(times["baseline"][0])
        lib_t.append(times["library"][0])
        ratios.append(times["baseline"][0] / times["library"][0])
        cpu_ratios.append(times["baseline"][1] / times["library"][1])
    print(f"# inmem consume->produce, N={n}, pairs={pairs}, {datetime.now(UTC):%Y-%m-%d}")
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
        f"Python {platform.python_version()}, GC default thresholds {gc.get_threshold()}"
    )
    print(
        f"baseline  best {min(base_t):.3f}s  median {statistics.median(base_t):.3f}s "
        f"({n / min(base_t) / 1e6:.2f} M msg/s)"
    )
    print(
        f"library   best {min(lib_t):.3f}s  median {statistics.median(lib_t):.3f}s "
        f"({n / min(lib_t) / 1e6:.2f} M msg/s)"
    )
    print(
        f"ratio (library throughput / baseline): median {statistics.median(ratios):.2f} "
        f"range [{min(ratios):.2f}, {max(ratios):.2f}]; best/best {min(base_t) / min(lib_t):.2f}"
    )


if __name__ == "__main__":
    main()
