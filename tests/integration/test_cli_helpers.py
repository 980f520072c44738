"""Helpers for the subprocess tests of the streamprocessor command: bounded in every way."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
TIMEOUT = 60.0

HANDLERS = '''
import os, sys, time
from streamprocessor import Message
from streamprocessor.runner import to

def upper(msg):
    return Message(value=msg.value.upper(), key=msg.key)

def none(msg):
    return None

def many(msg):
    return [msg, Message(value=msg.value + b"!")]

def fails_on_bad(msg):
    if msg.value == b"bad":
        raise ValueError("bad input")
    return msg

def text_on_bad(msg):
    if msg.value == b"bad":
        return Message(value=msg.value.decode())  # a str: the common bug
    return msg

def slow(msg):
    time.sleep(float(os.environ.get("SLOW_SECONDS", "0.2")))
    return msg

def stuck(msg):
    if msg.value == b"stuck":
        time.sleep(60)
    return msg

def announce(msg):
    sys.stderr.write("handling " + msg.value.decode() + "\\n")
    sys.stderr.flush()
    time.sleep(float(os.environ.get("SLOW_SECONDS", "30")))
    return msg
'''


def write_handlers(folder: Path) -> str:
    """Write the test handlers module; return its path for MODULE:FUNCTION."""
    path = folder / "cli_test_handlers.py"
    path.write_text(HANDLERS)
    return str(path)


def command(*args: str) -> list[str]:
    """Return the argv running ``streamprocessor`` with this interpreter."""
    return [sys.executable, "-m", "streamprocessor", *args]


def env(**extra: str) -> dict[str, str]:
    """Return the (already cleaned) environment plus ``extra``."""
    e = dict(os.environ)
    e.pop("DRY_RUN", None)
    e.update(extra)
    e.setdefault("PYTHONUNBUFFERED", "1")
    return e


def run(
    args: Sequence[str], data: bytes = b"", timeout: float = TIMEOUT, **extra: str
) -> subprocess.CompletedProcess[bytes]:
    """Run the command with ``data`` on stdin (a real pipe) and wait, bounded."""
    return subprocess.run(
        command(*args), input=data, capture_output=True, timeout=timeout, env=env(**extra),
        cwd=ROOT,
    )


class Running:
    """A command running in the background; its stdout and stderr are read by threads."""

    def __init__(self, args: Sequence[str], stdin: int | None = subprocess.PIPE,
                 **extra: str) -> None:
        self.proc = subprocess.Popen(
            command(*args), stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=env(**extra), cwd=ROOT,
        )
        self.out: queue.Queue[bytes] = queue.Queue()
        self.err: queue.Queue[bytes] = queue.Queue()
        self.err_lines: list[bytes] = []
        for stream, q in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=self._pump, args=(stream, q), daemon=True).start()

    @staticmethod
    def _pump(stream: object, q: queue.Queue[bytes]) -> None:
        for line in iter(stream.readline, b""):  # type: ignore[attr-defined]
            q.put(line)

    def write(self, data: bytes) -> None:
        """Write to the command's stdin."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def read_lines(self, n: int, timeout: float = TIMEOUT) -> list[bytes]:
        """Return the next ``n`` stdout lines; fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        lines = []
        while len(lines) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"got {lines!r}, expected {n} lines; stderr: "
                                     f"{b''.join(self.stderr_so_far())!r}")
            try:
                lines.append(self.out.get(timeout=left))
            except queue.Empty:
                continue
        return lines

    def wait_stderr(self, text: bytes, timeout: float = TIMEOUT) -> None:
        """Wait until a stderr line contains ``text``."""
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.err_lines):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {text!r} on stderr: {self.err_lines!r}")
            try:
                self.err_lines.append(self.err.get(timeout=left))
            except queue.Empty:
                continue

    def stderr_so_far(self) -> list[bytes]:
        """Return every stderr line read so far."""
        while True:
            try:
                self.err_lines.append(self.err.get_nowait())
            except queue.Empty:
                return self.err_lines

    def signal(self, sig: signal.Signals) -> None:
        """Send ``sig`` to the command."""
        self.proc.send_signal(sig)

    def wait(self, timeout: float = TIMEOUT) -> int:
        """Wait for the exit status (killing the command after ``timeout``)."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            raise

    def rest(self) -> list[bytes]:
        """After exit: the remaining stdout lines."""
        time.sleep(0.1)
        lines = []
        while True:
            try:
                lines.append(self.out.get_nowait())
            except queue.Empty:
                return lines

    def close(self) -> None:
        """Kill the command if it still runs."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        for s in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if s is not None:
                s.close()
