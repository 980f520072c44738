"""The async face on a real Kafka broker (and an idle stdin): loop lag, cancellation,
back-pressure, signals under ``asyncio.run``.

``async def`` tests, run by the library's pytest plugin.
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from typing import Any

import pytest

from streamprocessor import Message, options
from streamprocessor.clients import kafka
from streamprocessor.clients.kafka import testing as kt

pytestmark = pytest.mark.kafka

#: the loop-lag probe: its period, how long it runs, and the bounds (seconds)
PERIOD, SPAN, MAX_LAG, P99_LAG = 0.005, 3.5, 0.050, 0.020


async def probe(until: asyncio.Event) -> list[float]:
    """Sleep ``PERIOD`` again and again; return how late each wake-up was."""
    loop = asyncio.get_running_loop()
    lags: list[float] = []
    while not until.is_set():
        t = loop.time()
        await asyncio.sleep(PERIOD)
        lags.append(loop.time() - t - PERIOD)
    return lags


def lag_figures(lags: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(lags, n=100)
    return max(lags), q[98]


async def test_an_idle_kafka_consumer_never_blocks_the_loop(
    kafka_brokers: str, kafka_topic: Callable[..., str]
) -> None:
    """Made, connected, waiting on an idle topic and closed: no callback waits > 50 ms."""
    topic = kafka_topic()
    done = asyncio.Event()
    probing = asyncio.create_task(probe(done))
    t0 = time.monotonic()
    async with kafka.new_async_consumer(*kt.consumer_options(kafka_brokers, topic)) as c:

        async def wait_for_one() -> None:
            async for _ in c:
                raise AssertionError("the topic is empty")

        waiting = asyncio.create_task(wait_for_one())
        await asyncio.sleep(SPAN)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
    done.set()
    lags = await probing
    worst, p99 = lag_figures(lags)
    print(f"kafka loop lag over {time.monotonic() - t0:.1f} s: max {worst * 1e3:.1f} ms, "
          f"p99 {p99 * 1e3:.1f} ms, {len(lags)} wake-ups")
    assert time.monotonic() - t0 >= 3.0
    assert worst <= MAX_LAG, f"max lag {worst * 1e3:.1f} ms"
    assert p99 <= P99_LAG, f"p99 lag {p99 * 1e3:.1f} ms"


def test_an_idle_stdin_consumer_never_blocks_the_loop() -> None:
    program = textwrap.dedent(
        f"""
        import asyncio, statistics
        from streamprocessor.clients import standardstream

        async def main():
            loop = asyncio.get_running_loop()
            lags = []
            async with standardstream.new_async_consumer() as c:
                async def drain():
                    async for m in c:
                        print("got", m.value, flush=True)
                reading = asyncio.create_task(drain())
                end = loop.time() + {SPAN}
                while loop.time() < end:
                    t = loop.time()
                    await asyncio.sleep({PERIOD})
                    lags.append(loop.time() - t - {PERIOD})
                reading.cancel()
            print(max(lags), statistics.quantiles(lags, n=100)[98], len(lags))

        asyncio.run(main())
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", program],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    proc.wait(timeout=60)  # (stdin stays open and empty all along)
    out, err = proc.stdout.read().decode(), proc.stderr.read().decode()
    proc.stdin.close()
    assert proc.returncode == 0, err
    worst, p99, n = out.split()
    print(f"stdin loop lag: max {float(worst) * 1e3:.1f} ms, p99 {float(p99) * 1e3:.1f} ms, "
          f"{n} wake-ups")
    assert float(worst) <= MAX_LAG
    assert float(p99) <= P99_LAG


async def test_cancelling_a_wait_on_kafka_keeps_what_the_fetch_brings(
    kafka_brokers: str, kafka_topic: Callable[..., str]
) -> None:
    topic = kafka_topic()
    group = kt.random_name("async-cancel")
    async with kafka.new_async_consumer(
        *kt.consumer_options(kafka_brokers, topic, group)
    ) as c:

        async def first() -> None:
            async for _ in c:
                raise AssertionError("the topic was empty")

        for _ in range(3):  # (a wait cancelled again and again)
            task = asyncio.create_task(first())
            await asyncio.sleep(0.7)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        sent = [b"m%d" % i for i in range(200)]
        await asyncio.to_thread(kt.produce_messages, kafka_brokers, topic, *sent)
        got: list[bytes | None] = []
        async with asyncio.timeout(30):
            async for m in c:
                got.append(m.value)
                await c.ack(m)
                if len(got) == len(sent):
                    break
        assert got == sent
    committed = await asyncio.to_thread(kt.committed_offsets, kafka_brokers, group, topic)
    assert committed == {0: 200}


async def test_sends_waiting_for_room_in_a_small_queue_keep_their_order(
    kafka_brokers: str, kafka_topic: Callable[..., str]
) -> None:
    topic = kafka_topic()
    first = [b"a%d" % i for i in range(1000)]
    second = [b"b%d" % i for i in range(300)]
    async with kafka.new_async_producer(
        *kt.producer_options(kafka_brokers, topic),
        options.kafka_max_queue_size_messages(10),
    ) as p:
        for v in first:
            await p.send(Message(value=v))
        # sent without waiting in turn: taken in the order of the calls all the same
        await asyncio.gather(*[p.send(Message(value=v)) for v in second])
        await p.flush(30)
    got = await asyncio.to_thread(
        kt.read_messages, kafka_brokers, topic, 30.0, len(first) + len(second)
    )
    assert [m.value for m in got] == first + second


SIGNALLED = textwrap.dedent(
    """
    import asyncio, signal, sys
    from streamprocessor import Message
    from streamprocessor.clients import kafka

    async def main():
        n = 0
        async with kafka.new_async_consumer() as c, kafka.new_async_producer() as p:
            async for m in c:
                await asyncio.sleep(0.02)
                await p.send(Message(value=m.value + b"!"))
                await c.ack(m)
                n += 1
                print("handled", n, flush=True)
        print("ended after", n, flush=True)

    asyncio.run(main())
    """
)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_under_asyncio_run_flushes_commits_and_exits_0(
    kafka_brokers: str, kafka_topic: Callable[..., str], sig: signal.Signals
) -> None:
    src, dst = kafka_topic(), kafka_topic()
    group = kt.random_name("async-signal")
    kt.produce_messages(kafka_brokers, src, *[b"m%03d" % i for i in range(500)])
    env: dict[str, Any] = {
        **os.environ,
        "CONSUMER_KAFKA_BROKERS": kafka_brokers,
        "CONSUMER_KAFKA_TOPICS": src,
        "CONSUMER_KAFKA_GROUP_ID": group,
        "CONSUMER_KAFKA_SESSION_TIMEOUT": "6s",
        "CONSUMER_KAFKA_HEARTBEAT_INTERVAL": "500ms",
        "PRODUCER_KAFKA_BROKERS": kafka_brokers,
        "PRODUCER_KAFKA_TOPIC": dst,
        "PRODUCER_KAFKA_MAX_QUEUE_BUFFER_DURATION": "500ms",  # (sends still queued)
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", SIGNALLED],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        env=env,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.stdout.readline().startswith(b"handled 20"):
            break
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    handled = int(out.split(b"ended after ")[1])
    assert 20 <= handled < 500
    produced = kt.read_messages(kafka_brokers, dst)
    assert [m.value for m in produced] == [b"m%03d!" % i for i in range(handled)]
    assert kt.committed_offsets(kafka_brokers, group, src) == {0: handled}
