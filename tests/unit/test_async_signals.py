"""Signals under ``asyncio.run``: real subprocesses, real signals, the async face.

The first SIGTERM or SIGINT ends the iteration; the message in hand is finished, the
``async with`` blocks flush and close, the main task is not cancelled, the program exits
0, and the handler that was there before (asyncio's) is back after the close.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

INMEM = textwrap.dedent(
    """
    import asyncio, signal
    from streamprocessor import Message, options
    from streamprocessor.clients import inmem
    from streamprocessor.stores import InmemStore

    async def main():
        store = InmemStore()
        for i in range(3):
            store.add(Message(value=b"m%d" % i))
        out = InmemStore()
        before = signal.getsignal(signal.SIGINT)
        cancelled = False
        try:
            async with inmem.new_async_consumer(
                options.inmem_store(store), options.inmem_listen()
            ) as c, inmem.new_async_producer(options.inmem_store(out)) as p:
                async for m in c:
                    if m.value == b"m2":
                        print("in hand m2", flush=True)
                        await asyncio.sleep(0.5)  # (the signal comes now)
                    await p.send(m)
                    await c.ack(m)
                    print("handled", m.value.decode(), flush=True)
                print("loop ended", flush=True)
        except asyncio.CancelledError:
            cancelled = True
            raise
        finally:
            print("cancelled:", cancelled, "left:", len(store), "out:", len(out), flush=True)
            print("restored:", signal.getsignal(signal.SIGINT) is before, flush=True)

    asyncio.run(main())
    print("after run", flush=True)
    """
)

STDIN = textwrap.dedent(
    """
    import asyncio
    from streamprocessor import Message
    from streamprocessor.clients import standardstream

    async def main():
        async with standardstream.new_async_consumer() as c, \\
                standardstream.new_async_producer() as p:
            async for m in c:
                await asyncio.sleep(0.05)
                await p.send(Message(value=m.value.upper()))
                await c.ack(m)

    asyncio.run(main())
    """
)


def _start(program: str, **kw: object) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CONSUMER_SHUTDOWN_TIMEOUT": "5s"}
    return subprocess.Popen(
        [sys.executable, "-c", program],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        env=env,
        **kw,  # type: ignore[call-overload]
    )


def _wait_for(proc: subprocess.Popen[bytes], text: str, timeout: float = 30) -> None:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline().decode()
        seen.append(line)
        if text in line:
            return
        if not line and proc.poll() is not None:
            break
    raise AssertionError(f"never saw {text!r}: {seen}")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_ends_the_iteration_and_asyncio_run_returns(sig: signal.Signals) -> None:
    proc = _start(INMEM)
    _wait_for(proc, "in hand m2")
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    text = out.decode()
    assert proc.returncode == 0, err.decode()
    assert "handled m2" in text  # the message in hand was finished
    assert "loop ended" in text
    assert "cancelled: False left: 0 out: 3" in text
    assert "restored: True" in text  # asyncio.run's SIGINT handler is back after close
    assert "after run" in text
    assert "Traceback" not in err.decode()


def test_sigint_with_no_iteration_is_asyncio_runs_own() -> None:
    """No consumer is iterated: the main task is cancelled, as without the library."""
    program = textwrap.dedent(
        """
        import asyncio
        from streamprocessor import options
        from streamprocessor.clients import inmem
        from streamprocessor.stores import InmemStore

        async def main():
            async with inmem.new_async_producer(options.inmem_store(InmemStore())):
                print("ready", flush=True)
                try:
                    await asyncio.sleep(30)
                except asyncio.CancelledError:
                    print("main task cancelled", flush=True)
                    raise

        asyncio.run(main())
        """
    )
    proc = _start(program)
    _wait_for(proc, "ready")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert b"main task cancelled" in out
    assert b"KeyboardInterrupt" in err
    assert proc.returncode == -signal.SIGINT


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_an_idle_stdin_consumer_stops_on_a_signal_and_flushes(sig: signal.Signals) -> None:
    proc = _start(STDIN, stdin=subprocess.PIPE)
    assert proc.stdin is not None
    proc.stdin.write(b"a\nb\nc\n")
    proc.stdin.flush()  # (stdin stays open: the consumer then waits for input)
    time.sleep(1.0)
    proc.send_signal(sig)
    proc.wait(timeout=30)  # (stdin still open: the signal ended it)
    assert proc.stdout is not None and proc.stderr is not None
    out, err = proc.stdout.read(), proc.stderr.read()
    proc.stdin.close()
    assert proc.returncode == 0, err.decode()
    assert out == b"A\nB\nC\n"
