"""stdin → stdout, 1M lines x 100 B: the echo processor against ``cat`` and a bare Python loop.

Each contender is a fresh process reading a pre-generated file on stdin (``< file``) and
writing to stdout, which is either ``/dev/null`` or a pipe the benchmark drains:

- ``cat``;
- ``bare``: ``for line in sys.stdin.buffer: out.write(line)`` with
  ``out = sys.stdout.buffer`` — the bare Python loop;
- ``echo``: ``examples/echo.py`` under ``DRY_RUN=1`` — the library's
  ``for m in c: p.send(m); c.ack(m)`` on the standardstream consumer and producer.

Wall time covers the whole process, interpreter start and imports included (the library's
import is reported separately). Runs are interleaved in rounds whose order rotates;
``ratio`` is per round: the echo processor's throughput over the other's. Every process
runs without ``PYTHONUNBUFFERED`` and ``PYTHONDONTWRITEBYTECODE`` (recorded below); the
echo output is checked once against the input.

Run: ``.venv/bin/python bench/bench_standardstream.py [--lines N] [--rounds R] [--sink
devnull|pipe|both] [--results bench/RESULTS.md]``. A benchmark, never a timed test.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
ECHO = ROOT / "examples" / "echo.py"
BARE = "import sys\nout = sys.stdout.buffer\nfor line in sys.stdin.buffer:\n    out.write(line)\n"
IMPORT_ONLY = (
    "import streamprocessor, streamprocessor.clients.standardstream\n"
    "from streamprocessor.config import new_consumer_config, new_producer_config\n"
    "new_consumer_config(); new_producer_config()\n"
)


def make_input(path: Path, n: int) -> None:
    """Write ``n`` lines of 100 bytes (99 + newline), each one different."""
    filler = b"x" * 91 + b"\n"
    with path.open("wb") as f:
        for start in range(0, n, 10_000):
            f.write(b"".join(b"%08d" % i + filler for i in range(start, min(n, start + 10_000))))


def environment() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE")
        and not k.startswith(("CONSUMER_", "PRODUCER_"))
        and k not in ("DRY_RUN", "CLIENT_TYPE")
    }
    env["DRY_RUN"] = "1"
    return env


def commands() -> dict[str, list[str]]:
    return {
        "cat": ["cat"],
        "bare": [PYTHON, "-c", BARE],
        "echo": [PYTHON, str(ECHO)],
    }


def run(cmd: list[str], infile: Path, sink: str, env: dict[str, str]) -> tuple[float, float]:
    """Run ``cmd`` once; return (wall seconds, user+sys CPU seconds of the child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with infile.open("rb") as stdin:
        t0 = time.perf_counter()
        if sink == "devnull":
            subprocess.run(cmd, stdin=stdin, stdout=subprocess.DEVNULL, env=env, check=True,
                           timeout=300)
        else:
            p = subprocess.Popen(cmd, stdin=stdin, stdout=subprocess.PIPE, env=env)
            assert p.stdout is not None
            read = p.stdout.read1 if hasattr(p.stdout, "read1") else p.stdout.read
            while read(1 << 20):
                pass
            if p.wait(timeout=300) != 0:
                raise RuntimeError(f"{cmd} failed")
        wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def check_output(infile: Path, env: dict[str, str]) -> None:
    with infile.open("rb") as stdin:
        out = subprocess.run(
            [PYTHON, str(ECHO)], stdin=stdin, capture_output=True, env=env, timeout=300,
            check=True,
        ).stdout
    if hashlib.sha256(out).digest() != hashlib.sha256(infile.read_bytes()).digest():
        raise SystemExit("echo output differs from its input")


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()
    return (
        f"{cpu}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, load average {load[0]:.2f}"
    )


def summary(name: str, xs: list[float]) -> str:
    return f"median {statistics.median(xs):.2f} [{min(xs):.2f}, {max(xs):.2f}]"


def bench(infile: Path, n: int, rounds: int, sink: str, env: dict[str, str]) -> list[str]:
    cmds = commands()
    names = list(cmds)
    times: dict[str, list[float]] = {k: [] for k in names}
    cpus: dict[str, list[float]] = {k: [] for k in names}
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        if r % 2:
            order.reverse()
        for name in order:
            wall, cpu = run(cmds[name], infile, sink, env)
            times[name].append(wall)
            cpus[name].append(cpu)
    r_bare = [b / e for b, e in zip(times["bare"], times["echo"], strict=True)]
    r_cat = [c / e for c, e in zip(times["cat"], times["echo"], strict=True)]
    lines = [f"sink: {sink}", ""]
    lines.append("| process | wall s median [min, max] | CPU s median | M lines/s (median wall) |")
    lines.append("|---|---|---|---|")
    for name in names:
        w = times[name]
        lines.append(
            f"| {name} | {statistics.median(w):.3f} [{min(w):.3f}, {max(w):.3f}] "
            f"| {statistics.median(cpus[name]):.3f} | {n / statistics.median(w) / 1e6:.2f} |"
        )
    lines.append("")
    lines.append(f"- echo / bare Python loop throughput: {summary('bare', r_bare)}; "
                 f"best/best {min(times['bare']) / min(times['echo']):.2f}")
    lines.append(f"- echo / cat throughput: {summary('cat', r_cat)}; "
                 f"best/best {min(times['cat']) / min(times['echo']):.2f}")
    c_bare = [b / e for b, e in zip(cpus["bare"], cpus["echo"], strict=True)]
    lines.append(f"- by CPU time (less sensitive to other load), echo / bare: "
                 f"{summary('cpu', c_bare)}")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--sink", choices=("devnull", "pipe", "both"), default="both")
    ap.add_argument("--results", type=Path, help="append the report to this Markdown file")
    args = ap.parse_args()
    env = environment()
    with tempfile.TemporaryDirectory() as tmp:
        infile = Path(tmp) / "lines.txt"
        make_input(infile, args.lines)
        check_output(infile, env)  # also compiles the .pyc files once
        imports = []
        for _ in range(5):
            t0 = time.perf_counter()
            subprocess.run([PYTHON, "-c", IMPORT_ONLY], env=env, check=True, timeout=60)
            imports.append(time.perf_counter() - t0)
        starts = []
        for _ in range(5):
            t0 = time.perf_counter()
            subprocess.run([PYTHON, "-c", "pass"], env=env, check=True, timeout=60)
            starts.append(time.perf_counter() - t0)
        report = [
            f"### standardstream echo, {args.lines:,} lines x 100 B, {args.rounds} rounds "
            f"({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
            "",
            f"Machine: {machine()}. Environment: PYTHONUNBUFFERED and "
            "PYTHONDONTWRITEBYTECODE unset, .pyc cached, input in page cache.",
            f"Interpreter start `python -c pass`: {statistics.median(starts):.3f} s; "
            f"start + `import streamprocessor` + configs: {statistics.median(imports):.3f} s "
            "(both medians of 5; included in every echo run).",
            "",
        ]
        sinks = ("devnull", "pipe") if args.sink == "both" else (args.sink,)
        for sink in sinks:
            report += bench(infile, args.lines, args.rounds, sink, env)
            report.append("")
    report.append(f"Load average after: {os.getloadavg()[0]:.2f}.")
    text = "\n".join(report) + "\n"
    print(text)
    if args.results:
        with args.results.open("a") as f:
            f.write("\n" + text)


if __name__ == "__main__":
    main()
