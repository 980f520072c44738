"""Process checks of the test broker's script (no broker needed)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from streamprocessor.testing.kafka_broker import _pid_alive


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
