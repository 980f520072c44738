"""The standardstream client in real processes: pipes, detection, signals, ``| head -1``.

Each test starts Python processes (mostly ``examples/echo.py``) with real pipes, files,
sockets and terminals on their standard streams. Every wait is bounded: subprocess calls
have timeouts and reads go through ``select`` with a deadline.
"""

from __future__ import annotations

import contextlib
import os
import pty
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
ECHO = str(ROOT / "examples" / "echo.py")
PY = sys.executable
TIMEOUT = 30

WHICH = (
    "from streamprocessor import new_consumer\n"
    "c = new_consumer()\n"
    "print(type(c).__name__)\n"
)
WHICH_PRODUCER = (
    "from streamprocessor import new_producer\n"
    "p = new_producer()\n"
    "print(type(p).__name__, flush=True)\n"
    "p.close()\n"
)


def env(**extra: str) -> dict[str, str]:
    """The current environment (already cleaned of CONSUMER_*, … by conftest) plus extra."""
    e = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    e.update(extra)
    return e


def read_until(stream: Any, want: bytes, timeout: float = 5.0) -> bytes:
    """Read from a pipe until ``want`` has arrived (or fail after ``timeout`` seconds)."""
    fd = stream.fileno()
    got = b""
    deadline = time.monotonic() + timeout
    while want not in got:
        left = deadline - time.monotonic()
        assert left > 0, f"timed out waiting for {want!r}; got {got!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 65536)
            assert chunk, f"end of output before {want!r}; got {got!r}"
            got += chunk
    return got


def echo(extra_env: dict[str, str] | None = None, **kw: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [PY, ECHO],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env(DRY_RUN="1", **(extra_env or {})),
        **kw,
    )


def finish(p: subprocess.Popen[bytes]) -> tuple[bytes, bytes]:
    try:
        out, err = p.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise
    return out, err


# -- trying a processor in a terminal -----------------------------------------------------


def test_printf_into_a_dry_run_processor_prints_the_results() -> None:
    r = subprocess.run(
        ["bash", "-c", f"printf 'hello\\nworld\\n' | DRY_RUN=1 {PY} {ECHO}"],
        capture_output=True, env=env(), timeout=TIMEOUT,
    )
    assert (r.returncode, r.stdout, r.stderr) == (0, b"hello\nworld\n", b"")


@pytest.mark.parametrize("unbuffered", ["", "1"], ids=["buffered", "PYTHONUNBUFFERED=1"])
def test_100000_lines_pass_through_unchanged_in_few_writes(
    tmp_path: Path, unbuffered: str
) -> None:
    data = b"".join(b"line %d \xff\r\n" % i if i % 7 == 0 else b"line %d\n" % i
                    for i in range(100_000))
    src = tmp_path / "in.txt"
    src.write_bytes(data)
    # the processor reports its write syscalls (from /proc/self/io) when it exits
    wrapper = (
        "import atexit, runpy, sys\n"
        "atexit.register(lambda: sys.stderr.write(\n"
        "    [x for x in open('/proc/self/io').read().split('\\n') if x.startswith('syscw')][0]))\n"
        f"runpy.run_path({ECHO!r}, run_name='__main__')\n"
    )
    extra = {"PYTHONUNBUFFERED": unbuffered} if unbuffered else {}
    with src.open("rb") as stdin:
        r = subprocess.run([PY, "-c", wrapper], stdin=stdin, capture_output=True,
                           env=env(DRY_RUN="1", **extra), timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    assert r.stdout == data.replace(b"\r\n", b"\n")
    writes = int(r.stderr.decode().split(":")[1])
    assert writes < 200, f"{writes} write syscalls for 100000 lines"


def test_print_output_keeps_its_place_before_produced_lines() -> None:
    script = (
        "from streamprocessor import Message, new_consumer, new_producer\n"
        "print('header')\n"
        "with new_consumer() as c, new_producer() as p:\n"
        "    for m in c:\n"
        "        p.send(m)\n"
        "print('footer')\n"
    )
    r = subprocess.run([PY, "-c", script], input=b"a\nb\n", capture_output=True,
                       env=env(DRY_RUN="1"), timeout=TIMEOUT)
    assert (r.returncode, r.stdout, r.stderr) == (0, b"header\na\nb\nfooter\n", b"")


@pytest.mark.parametrize("unbuffered", ["", "1"], ids=["buffered", "PYTHONUNBUFFERED=1"])
def test_a_line_typed_into_a_long_lived_pipe_appears_at_once(unbuffered: str) -> None:
    p = echo({"PYTHONUNBUFFERED": unbuffered} if unbuffered else {})
    assert p.stdin is not None and p.stdout is not None
    try:
        for word in (b"first", b"second", b"third"):
            start = time.monotonic()
            p.stdin.write(word + b"\n")
            p.stdin.flush()
            assert read_until(p.stdout, word + b"\n") == word + b"\n"
            assert time.monotonic() - start < 2
        p.stdin.close()
        assert p.wait(TIMEOUT) == 0
        assert p.stdout.read() == b""
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(5)


def test_lines_typed_at_a_terminal_are_answered_at_once() -> None:
    main, tty = pty.openpty()
    p = subprocess.Popen([PY, ECHO], stdin=tty, stdout=tty, stderr=subprocess.PIPE,
                         env=env(DRY_RUN="1", CONSUMER_CLIENT_TYPE="standardstream"))
    os.close(tty)
    with os.fdopen(main, "r+b", buffering=0) as term:
        try:
            for word in (b"hello", b"world"):
                term.write(word + b"\n")
                # the terminal echoes the typing, then the processor answers
                assert read_until(term, word + b"\r\n" + word + b"\r\n").endswith(
                    word + b"\r\n" + word + b"\r\n"
                )
            term.write(b"\x04")  # Ctrl-D: end of input
            assert p.wait(TIMEOUT) == 0
        finally:
            if p.poll() is None:
                p.kill()
                p.wait(5)
    assert p.stderr is not None and p.stderr.read() == b""


def test_a_closed_stdin_is_a_clear_error() -> None:
    r = subprocess.run(["bash", "-c", f"{PY} -c '{WHICH}' <&-"], capture_output=True,
                       env=env(CONSUMER_CLIENT_TYPE="standardstream"), timeout=TIMEOUT)
    assert r.returncode == 1
    assert b"cannot read standard input" in r.stderr


# -- choosing the client from the environment ---------------------------------------------


def which(stdin: Any, **extra: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([PY, "-c", WHICH], stdin=stdin, capture_output=True,
                          env=env(**extra), timeout=TIMEOUT)


def test_a_piped_stdin_selects_the_standardstream_consumer() -> None:
    r = subprocess.run([PY, "-c", WHICH], input=b"", capture_output=True, env=env(),
                       timeout=TIMEOUT)
    assert r.stdout == b"StandardstreamConsumer\n", r.stderr


def test_a_redirected_file_selects_the_standardstream_consumer(tmp_path: Path) -> None:
    f = tmp_path / "in"
    f.write_bytes(b"x\n")
    with f.open("rb") as stdin:
        r = which(stdin)
    assert r.stdout == b"StandardstreamConsumer\n", r.stderr


def test_a_socket_on_stdin_selects_the_standardstream_consumer_and_is_read() -> None:
    a, b = socket.socketpair()
    with a, b:
        p = subprocess.Popen([PY, ECHO], stdin=b.fileno(), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=env(DRY_RUN="1"))
        b.close()
        a.sendall(b"over\na socket\n")
        a.shutdown(socket.SHUT_WR)
        out, err = finish(p)
    assert (p.returncode, out, err) == (0, b"over\na socket\n", b"")


def test_dev_null_on_stdin_selects_nothing() -> None:
    r = which(subprocess.DEVNULL)
    assert r.returncode == 1
    assert b"CONSUMER_CLIENT_TYPE" in r.stderr and b"pipe" in r.stderr


def test_a_terminal_on_stdin_selects_nothing() -> None:
    main, tty = pty.openpty()
    try:
        r = which(tty)
    finally:
        os.close(main)
        os.close(tty)
    assert r.returncode == 1
    assert b"CONSUMER_CLIENT_TYPE" in r.stderr


def test_consumer_client_type_selects_standardstream_explicitly() -> None:
    r = which(subprocess.DEVNULL, CONSUMER_CLIENT_TYPE="StandardStream")
    assert r.stdout == b"StandardstreamConsumer\n", r.stderr


@pytest.mark.parametrize(
    "extra",
    [
        {"DRY_RUN": "1"},
        {"DRY_RUN": ""},  # present is enough
        {"DRY_RUN": "1", "PRODUCER_CLIENT_TYPE": "inmem"},  # DRY_RUN wins
        {"PRODUCER_CLIENT_TYPE": "standardstream"},
    ],
)
def test_dry_run_or_producer_client_type_selects_the_stdout_producer(
    extra: dict[str, str],
) -> None:
    r = subprocess.run([PY, "-c", WHICH_PRODUCER], stdin=subprocess.DEVNULL,
                       capture_output=True, env=env(**extra), timeout=TIMEOUT)
    assert (r.returncode, r.stdout) == (0, b"StandardstreamProducer\n"), r.stderr


# -- signals ----------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_on_an_idle_pipe_ends_at_once_and_says_it_dropped_a_partial_line(
    sig: int,
) -> None:
    p = echo()
    assert p.stdin is not None and p.stdout is not None
    p.stdin.write(b"one\ntwo\npartial")  # the pipe stays open: the processor waits
    p.stdin.flush()
    assert read_until(p.stdout, b"two\n") == b"one\ntwo\n"
    time.sleep(0.2)  # it took "partial" from the pipe and now waits for more
    start = time.monotonic()
    p.send_signal(sig)
    out, err = finish(p)
    assert time.monotonic() - start < 5
    assert p.returncode == 0, err
    assert out == b""  # no line is handed out after the stop; a pipe cannot be rewound
    assert err.count(b"Stopped with a partial line read from standard input and not "
                     b"handled: dropped") == 1
    assert b"Traceback" not in err
    p.stdin.close()


# -- stopping a slow handler: nothing handled is lost, nothing unhandled is dropped -------

SLOW = """\
import time
from streamprocessor import Message

def handle(msg):  # 2 ms a line: a block of input takes seconds
    time.sleep(0.002)
    return Message(value=msg.value)

def handle_1ms(msg):
    time.sleep(0.001)
    return Message(value=msg.value)

def stuck_at_300(msg):
    if msg.value == b"300":
        time.sleep(60)
    return Message(value=msg.value)

def fail_on_3(msg):
    if msg.value == b"3":
        raise ValueError("three")
    return Message(value=msg.value)
"""
LINES = b"".join(b"%d\n" % i for i in range(1, 100_001))  # `seq 1 100000`


def run_slow(tmp_path: Path, handler: str, *flags: str, **kw: Any) -> subprocess.Popen[bytes]:
    (tmp_path / "slow.py").write_text(SLOW)
    return subprocess.Popen(
        [PY, "-m", "streamprocessor", "run", f"slow.py:{handler}", *flags],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path, env=env(DRY_RUN="1"),
        **kw,
    )


def read_rest(f: Any) -> bytes:
    """What a next reader of the same open file reads (from its shared position)."""
    chunks = []
    while chunk := os.read(f.fileno(), 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("concurrency", ["1", "4"])
def test_sigterm_on_a_file_writes_what_was_handled_and_leaves_the_rest_in_the_file(
    tmp_path: Path, concurrency: str
) -> None:
    (tmp_path / "in.txt").write_bytes(LINES)
    with (tmp_path / "in.txt").open("rb") as f:  # `(streamprocessor run …; cat) < in.txt`
        p = run_slow(tmp_path, "handle", "--concurrency", concurrency, stdin=f)
        assert p.stdout is not None
        first = read_until(p.stdout, b"\n", timeout=10)  # handling is under way
        p.send_signal(signal.SIGTERM)
        out, err = finish(p)
        out = first + out
        assert p.returncode == 0, err
        rest = read_rest(f)
    handled = out.splitlines(keepends=True)
    assert 0 < len(handled) < 10_000  # stopped within the first read block
    assert LINES.endswith(rest) and len(rest) < len(LINES)  # the tail, where the next starts
    all_lines = sorted(handled + rest.splitlines(keepends=True), key=int)
    assert b"".join(all_lines) == LINES  # nothing lost, nothing twice
    if concurrency == "1":
        assert out + rest == LINES
    assert b"WARNING" not in err and b"Traceback" not in err


def test_sigterm_on_a_pipe_writes_what_was_handled_and_counts_what_it_dropped(
    tmp_path: Path,
) -> None:
    p = run_slow(tmp_path, "handle", stdin=subprocess.PIPE)
    assert p.stdin is not None and p.stdout is not None
    stdin = p.stdin

    def feed() -> None:
        with contextlib.suppress(OSError):
            stdin.write(LINES)
            stdin.close()

    threading.Thread(target=feed, daemon=True).start()
    first = read_until(p.stdout, b"\n", timeout=10)
    p.send_signal(signal.SIGTERM)
    out, err = finish(p)
    out = first + out
    assert p.returncode == 0, err
    assert LINES.startswith(out) and out.endswith(b"\n")  # each handled line, in order
    warnings = [line for line in err.splitlines() if b"WARNING" in line]
    assert len(warnings) == 1, err
    m = re.search(rb"Stopped with (\d+) line\(s\)( and a partial line)? read from standard "
                  rb"input and not handled: dropped", warnings[0])
    assert m is not None, warnings[0]
    dropped = int(m.group(1))  # (read ahead in the block of the stop)
    assert 0 < dropped < len(LINES.splitlines()) - len(out.splitlines())


def test_the_shutdown_timeout_still_writes_the_handled_output_and_keeps_the_file_position(
    tmp_path: Path,
) -> None:
    (tmp_path / "in.txt").write_bytes(LINES)
    with (tmp_path / "in.txt").open("rb") as f:
        p = run_slow(tmp_path, "stuck_at_300", "--shutdown-timeout", "1s", stdin=f)
        assert p.stdout is not None
        first = read_until(p.stdout, b"299\n", timeout=10)  # now stuck on line 300
        start = time.monotonic()
        p.send_signal(signal.SIGTERM)
        out, err = finish(p)
        assert time.monotonic() - start < 10
        out = first + out
        assert p.returncode == 1, err
        rest = read_rest(f)
    assert b"Timed out after 1s while shutting down after SIGTERM" in err
    assert out == b"".join(b"%d\n" % i for i in range(1, 300))  # every handled line
    assert out + rest == LINES  # line 300 (unfinished) and after are the next reader's


def test_the_shutdown_timeout_with_a_blocked_stdout_exits_1_counting_unwritten_lines(
    tmp_path: Path,
) -> None:
    (tmp_path / "in.txt").write_bytes(LINES * 5)
    with (tmp_path / "in.txt").open("rb") as f:
        (tmp_path / "slow.py").write_text(SLOW)
        p = subprocess.Popen(  # nobody reads its stdout: the pipe fills and writes block
            [PY, "-m", "streamprocessor", "pipe", "--shutdown-timeout", "1s"],
            stdin=f, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path,
            env=env(DRY_RUN="1"),
        )
        time.sleep(1.5)
        p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15  # (its stdout is read only once it exited)
        while p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        _, err = finish(p)
    assert p.returncode == 1, err
    assert re.search(rb"standardstream producer could not write [1-9]\d* handled line\(s\)",
                     err), err


def test_output_of_a_slow_handler_appears_at_once_and_keeps_coming(tmp_path: Path) -> None:
    (tmp_path / "slow.py").write_text(SLOW)
    start = time.monotonic()
    seq = subprocess.Popen(["seq", "1", "100000"], stdout=subprocess.PIPE)  # `seq … |`
    p = run_slow(tmp_path, "handle_1ms", stdin=seq.stdout)
    assert p.stdout is not None and seq.stdout is not None
    seq.stdout.close()
    try:
        got = read_until(p.stdout, b"1\n", timeout=10)
        assert time.monotonic() - start < 3  # was 14 s: a whole read block of handling
        writes = 0
        until = time.monotonic() + 1.0
        fd = p.stdout.fileno()
        while (left := until - time.monotonic()) > 0:
            if select.select([fd], [], [], left)[0]:
                got += os.read(fd, 1 << 16)
                writes += 1
        assert writes >= 4  # written every 100 ms, not once per read block
        assert LINES.startswith(got[: got.rfind(b"\n") + 1])
    finally:
        p.kill()
        finish(p)
        seq.wait(TIMEOUT)  # (ended by SIGPIPE)


def test_a_skipped_line_is_named_by_its_line_number(tmp_path: Path) -> None:
    (tmp_path / "slow.py").write_text(SLOW)
    r = subprocess.run(
        [PY, "-m", "streamprocessor", "run", "slow.py:fail_on_3", "--on-error", "skip"],
        input=b"1\n2\n3\n4\n", capture_output=True, cwd=tmp_path, env=env(DRY_RUN="1"),
        timeout=TIMEOUT,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"1\n2\n4\n"
    assert b"Skipping message (line 3) after 1 attempt(s): ValueError: three" in r.stderr


def test_a_second_ctrl_c_exits_1_at_once() -> None:
    script = (
        "import time\n"
        "from streamprocessor import new_consumer, new_producer\n"
        "with new_consumer() as c, new_producer() as p:\n"
        "    for m in c:\n"
        "        p.send(m)\n"
        "        p.flush()\n"
        "        if m.value == b'slow':\n"
        "            time.sleep(60)\n"
    )
    p = subprocess.Popen([PY, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env(DRY_RUN="1"))
    assert p.stdin is not None and p.stdout is not None
    p.stdin.write(b"slow\n")
    p.stdin.flush()
    read_until(p.stdout, b"slow\n")  # now in the 60 s handler
    p.send_signal(signal.SIGINT)  # first: finish the message in hand (60 s)
    time.sleep(0.3)
    start = time.monotonic()
    p.send_signal(signal.SIGINT)  # second: exit now
    _out, err = finish(p)
    assert time.monotonic() - start < 5
    assert p.returncode == 1
    assert b"Second interrupt" in err
    p.stdin.close()


# -- a closed standard output -------------------------------------------------------------


def head_1(cmd: str, stdin_file: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    redirect = f" < {stdin_file}" if stdin_file else ""
    return subprocess.run(
        # the status of the command just before head (not of a generator before it)
        ["bash", "-c", f"{cmd}{redirect} 2>err.txt | head -1; s=(${{PIPESTATUS[@]}}); "
                       "echo \"rc=${s[-2]}\""],
        capture_output=True, env=env(DRY_RUN="1"), timeout=TIMEOUT,
    )


@pytest.fixture
def many_lines(tmp_path: Path) -> Path:
    f = tmp_path / "many.txt"
    f.write_bytes(b"".join(b"line %d\n" % i for i in range(300_000)))
    return f


def test_head_1_ends_the_echo_processor_quietly_with_status_0(
    many_lines: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    r = head_1(f"{PY} {ECHO}", many_lines)
    assert r.stdout == b"line 0\nrc=0\n"
    assert (tmp_path / "err.txt").read_bytes() == b""


def test_head_1_on_an_endless_pipe_ends_the_processor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    r = head_1(f"yes 'y' | {PY} {ECHO}")
    assert r.stdout == b"y\nrc=0\n"
    assert (tmp_path / "err.txt").read_bytes() == b""
    # the runner too; the input it read ahead is dropped without a warning (moot)
    r = head_1(f"seq 1 1000000 | {PY} -m streamprocessor pipe")
    assert r.stdout == b"1\nrc=0\n"
    assert b"WARNING" not in (tmp_path / "err.txt").read_bytes()


def test_head_1_ends_a_program_that_only_produces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "produce.py"
    script.write_text(
        "import itertools\n"
        "from streamprocessor import Message, new_producer\n"
        "with new_producer() as p:\n"
        "    for i in itertools.count():\n"
        "        p.send(Message(value=b'%d' % i))\n"
    )
    monkeypatch.chdir(tmp_path)
    r = head_1(f"{PY} {script}")
    assert r.stdout == b"0\nrc=0\n"
    assert (tmp_path / "err.txt").read_bytes() == b""


def test_head_1_with_print_output_still_buffered_at_exit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "printing.py"
    script.write_text(
        "import select\n"
        "from streamprocessor import new_consumer, new_producer\n"
        "with new_consumer() as c, new_producer() as p:\n"
        "    for m in c:\n"
        "        print('seen', m.value)\n"
        "        p.send(m)\n"
        "print('done')\n"  # still in sys.stdout's buffer at exit, when stdout is gone
        "poll = select.poll()\n"
        "poll.register(1, select.POLLOUT)\n"
        "for _ in range(50):  # wait until head has gone (the pipe reports POLLERR)\n"
        "    if any(ev & select.POLLERR for _, ev in poll.poll(100)):\n"
        "        break\n"
    )
    monkeypatch.chdir(tmp_path)
    r = head_1(f"printf 'a\\nb\\n' | {PY} {script}")
    assert r.stdout == b"seen b'a'\nrc=0\n"
    assert (tmp_path / "err.txt").read_bytes() == b""


def test_head_1_stops_a_consumer_that_never_ends_by_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "listen.py"
    script.write_text(
        "from streamprocessor import Message, options\n"
        "from streamprocessor.clients import inmem, standardstream\n"
        "from streamprocessor.stores import InmemStore\n"
        "store = InmemStore()\n"
        "for i in range(100_000):\n"
        "    store.add(Message(value=b'%d' % i))\n"
        "with inmem.new_consumer(options.inmem_store(store), options.inmem_listen()) as c, \\\n"
        "        standardstream.new_producer() as p:\n"
        "    for m in c:\n"
        "        p.send(m)\n"
        "        c.ack(m)\n"
    )
    monkeypatch.chdir(tmp_path)
    r = head_1(f"{PY} {script}")
    assert r.stdout == b"0\nrc=0\n"
    err = (tmp_path / "err.txt").read_bytes()
    # the acks whose lines were never written are not committed, and it says so (once)
    assert re.fullmatch(rb"[1-9]\d* acknowledgement\(s\) not committed: [^\n]*\n", err), err


# -- the line limit -----------------------------------------------------------------------


def test_an_oversized_line_stops_the_processor_after_the_lines_before_it() -> None:
    data = b"a\nb\n" + b"x" * 600_000 + b"\nc\n"
    r = subprocess.run([PY, ECHO], input=data, capture_output=True, env=env(DRY_RUN="1"),
                       timeout=TIMEOUT)
    assert r.returncode == 1
    assert r.stdout == b"a\nb\n"  # every line before it was written
    assert b"LineTooLongError" in r.stderr
    assert b"line 3 is longer than the maximum line size of 524288 bytes" in r.stderr
    assert b"CONSUMER_STANDARDSTREAM_MAX_LINE_SIZE" in r.stderr
    r = subprocess.run(
        [PY, ECHO], input=data, capture_output=True, timeout=TIMEOUT,
        env=env(DRY_RUN="1", CONSUMER_STANDARDSTREAM_MAX_LINE_SIZE="1000000"),
    )
    assert (r.returncode, r.stdout, r.stderr) == (0, data, b"")
