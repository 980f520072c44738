"""Memory part of bench_pipeline: 10M lines from a pipe through the runner to /dev/null."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from bench_pipeline import ROOT, SIZE

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


def memory(n: int, concurrency: int = 1) -> None:
    gen = subprocess.Popen([sys.executable, "-c", _GEN.format(n=n)], stdout=subprocess.PIPE)
    env = {k: v for k, v in os.environ.items() if not k.endswith("CLIENT_TYPE")}
    env["DRY_RUN"] = "1"
    with open(os.devnull, "wb") as null:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamprocessor", "run", HANDLER,
             "--concurrency", str(concurrency)],
            stdin=gen.stdout, stdout=null, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    assert gen.stdout is not None
    gen.stdout.close()
    samples: list[tuple[float, int]] = []
    t0 = time.monotonic()
    while proc.poll() is None:
        try:
            samples.append((time.monotonic() - t0, _rss_kb(proc.pid)))
        except (FileNotFoundError, ProcessLookupError):
            break
        time.sleep(0.25)
    err = proc.stderr.read().decode() if proc.stderr else ""
    gen.wait(timeout=30)
    elapsed = time.monotonic() - t0
    samples = [s for s in samples if s[1]]
    warm = next(kb for t, kb in samples if t >= elapsed * 0.1)
    after = [kb for t, kb in samples if t >= elapsed * 0.1]
    print(f"memory: {n} x {SIZE} B lines, stdin -> run :copy --concurrency {concurrency} "
          f"-> /dev/null, exit {proc.returncode}, "
          f"{elapsed:.1f}s ({n / elapsed / 1e3:.0f}k msg/s)")
    print(f"RSS at warm-up {warm / 1024:.1f} MB, max after {max(after) / 1024:.1f} MB, "
          f"growth {(max(after) - warm) / 1024:.1f} MB (target <= 100 MB)")
    print("  " + (err.strip().splitlines() or [""])[-1])

