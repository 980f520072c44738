"""Memory part of bench_pipeline: millions of messages through the runner to a discarding sink.

Two streaming sources: lines from a pipe (``memory``) and a Kafka topic being filled
while the processor reads it (``memory_kafka``). The sink is stdout (``DRY_RUN``) sent to
/dev/null. RSS of the processor is sampled every 0.25 s; growth is the largest RSS after
warm-up (the first 10 % of the run) minus the RSS at warm-up.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench_pipeline import ROOT, SIZE, _kt

HANDLER = f"{ROOT / 'bench' / 'bench_pipeline.py'}:copy"

_GEN = (
    "import sys\nline = b'x' * 99 + b'\\n'\nblock = line * 10000\nw = sys.stdout.buffer\n"
    "for _ in range({n} // 10000):\n    w.write(block)\n"
)


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _sample(proc: subprocess.Popen[bytes], stop: threading.Event | None = None
            ) -> list[tuple[float, int]]:
    samples: list[tuple[float, int]] = []
    t0 = time.monotonic()
    while proc.poll() is None and not (stop is not None and stop.is_set()):
        try:
            samples.append((time.monotonic() - t0, _rss_kb(proc.pid)))
        except (FileNotFoundError, ProcessLookupError):
            break
        time.sleep(0.25)
    return [s for s in samples if s[1]]


def _report(what: str, n: int, samples: list[tuple[float, int]], elapsed: float,
            code: int | None, log: Path) -> None:
    warm = next(kb for t, kb in samples if t >= elapsed * 0.1)
    after = [kb for t, kb in samples if t >= elapsed * 0.1]
    print(f"memory: {n} x {SIZE} B, {what}, exit {code}, "
          f"{elapsed:.1f}s ({n / elapsed / 1e3:.0f}k msg/s)")
    print(f"RSS at warm-up {warm / 1024:.1f} MB, max after {max(after) / 1024:.1f} MB, "
          f"growth {(max(after) - warm) / 1024:.1f} MB (target <= 100 MB)")
    last = [line for line in log.read_text().splitlines() if "Done:" in line]
    print("  " + (last[-1] if last else "(no summary line)"), flush=True)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("CLIENT_TYPE")}
    env.update(DRY_RUN="1", STREAMPROCESSOR_LOG_LEVEL="info", **extra)
    return env


def memory(n: int, concurrency: int = 1) -> None:
    """Lines from a pipe → ``run :copy --concurrency N`` → /dev/null."""
    gen = subprocess.Popen([sys.executable, "-c", _GEN.format(n=n)], stdout=subprocess.PIPE)
    log = Path(tempfile.mkstemp(suffix=".log")[1])
    with open(os.devnull, "wb") as null, log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamprocessor", "run", HANDLER,
             "--concurrency", str(concurrency)],
            stdin=gen.stdout, stdout=null, stderr=err, env=_env(), cwd=ROOT)
    assert gen.stdout is not None
    gen.stdout.close()
    t0 = time.monotonic()
    samples = _sample(proc)
    proc.wait(timeout=60)
    gen.wait(timeout=30)
    what = f"stdin -> run :copy --concurrency {concurrency} -> /dev/null"
    _report(what, n, samples, time.monotonic() - t0, proc.returncode, log)
    log.unlink()


def memory_kafka(brokers: str, n: int) -> None:
    """A Kafka topic filled while it is read → ``run :copy`` → /dev/null."""
    from bench_pipeline import count, fill_topic

    kt = _kt()
    src = kt.create_topic(brokers)
    group = kt.random_name("mem")
    filler = threading.Thread(target=fill_topic, args=(brokers, src, n), daemon=True)
    filler.start()
    log = Path(tempfile.mkstemp(suffix=".log")[1])
    env = _env(CONSUMER_CLIENT_TYPE="kafka", CONSUMER_KAFKA_BROKERS=brokers,
               CONSUMER_KAFKA_TOPICS=src, CONSUMER_KAFKA_GROUP_ID=group)
    with open(os.devnull, "wb") as null, log.open("wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "streamprocessor", "run", HANDLER],
                                stdin=subprocess.DEVNULL, stdout=null, stderr=err, env=env,
                                cwd=ROOT)
    done = threading.Event()

    def watch() -> None:  # stop the processor once the group committed everything
        filler.join()
        while proc.poll() is None:
            if sum(max(o, 0) for o in kt.committed_offsets(brokers, group, src).values()) >= n:
                break
            time.sleep(1)
        done.set()

    threading.Thread(target=watch, daemon=True).start()
    t0 = time.monotonic()
    samples = _sample(proc, done)
    elapsed = time.monotonic() - t0
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    assert count(brokers, src) == n
    _report("Kafka -> run :copy -> /dev/null", n, samples, elapsed, proc.returncode, log)
    kt.delete_topics(brokers, [src])
    log.unlink()
