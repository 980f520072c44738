"""Process checks of the test broker's script (no broker needed)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from streamprocessor.testing.kafka_broker.cli import _pid_alive


def test_an_exited_child_not_yet_reaped_counts_as_gone() -> None:
    """`kafka-broker stop` waited its whole timeout for a zombie `start` process."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 10
    while _pid_alive(child.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        assert not _pid_alive(child.pid)  # exited, still unreaped: a zombie
        assert child.poll() == 0  # (reaped only now)
    finally:
        child.wait()
    assert _pid_alive(os.getpid())


def test_address_without_a_cluster_says_how_to_start_one(tmp_path: Path) -> None:
    """`address` waits a bounded time and names the command that starts a cluster."""
    done = subprocess.run(
        [sys.executable, "-m", "streamprocessor.testing.kafka_broker", "address",
         "--dir", str(tmp_path), "--timeout", "0.3"],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert f"no cluster became ready in {tmp_path} within 0.3 s" in done.stderr
    assert f"-m streamprocessor.testing.kafka_broker start --dir {tmp_path}'" in done.stderr
