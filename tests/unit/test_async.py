"""The async face: wrong-face errors, signal handlers, cancellation, sends that would block.

These are ``async def`` tests: the library's pytest plugin runs them (no other plugin).
"""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
from typing import Any

import pytest

import streamprocessor
from streamprocessor import Message, options
from streamprocessor.clients import inmem, standardstream
from streamprocessor.clients.front.aio import AsyncConsumerFront
from streamprocessor.stores import InmemStore
from streamprocessor.stream.errors import InvalidMessageError
from streamprocessor.util.interrupts import COORDINATOR

BASE = (options.disable_environment_config(),)


def store_of(*values: bytes) -> InmemStore:
    store = InmemStore()
    for v in values:
        store.add(Message(value=v))
    return store


# -- the wrong face: a clear error naming the right function -----------------------------


async def test_an_async_consumer_in_a_sync_for_names_async_for() -> None:
    async with inmem.new_async_consumer(*BASE, options.inmem_store(store_of(b"a"))) as c:
        with pytest.raises(TypeError, match=r"async for.*new_consumer\(\)"):
            for _ in c:  # type: ignore[attr-defined]
                pass


async def test_an_async_client_under_a_sync_with_names_async_with() -> None:
    c = inmem.new_async_consumer(*BASE, options.inmem_store(InmemStore()))
    with pytest.raises(TypeError, match=r"async with.*new_consumer\(\)"), c:  # type: ignore[attr-defined]
        pass
    p = inmem.new_async_producer(*BASE, options.inmem_store(InmemStore()))
    with pytest.raises(TypeError, match=r"async with.*new_producer\(\)"), p:  # type: ignore[attr-defined]
        pass
    await c.close()
    await p.close()


async def test_a_sync_consumer_under_async_for_names_new_async_consumer() -> None:
    with inmem.new_consumer(*BASE, options.inmem_store(store_of(b"a"))) as c:
        with pytest.raises(TypeError, match=r"new_async_consumer"):
            async for _ in c:  # type: ignore[attr-defined]
                pass
        with pytest.raises(TypeError, match=r"new_async_consumer"):
            async with c:  # type: ignore[attr-defined]
                pass


async def test_a_coroutine_handed_to_send_says_await_is_missing() -> None:
    async def handle() -> Message:
        return Message(value=b"x")

    out = InmemStore()
    async with inmem.new_async_producer(*BASE, options.inmem_store(out)) as p:
        pending = handle()
        with pytest.raises(InvalidMessageError, match=r"without `await`"):
            await p.send(pending)  # type: ignore[arg-type]
        await pending
    with inmem.new_producer(*BASE, options.inmem_store(out)) as sp:
        pending = handle()
        with pytest.raises(InvalidMessageError, match=r"without `await`"):
            sp.send(pending)  # type: ignore[arg-type]
        await pending
    assert out.messages() == []


async def test_an_async_client_names_its_kind_in_repr_and_keeps_its_config() -> None:
    c = inmem.new_async_consumer(*BASE, options.inmem_store(InmemStore()), options.name("n1"))
    assert c.config.name == "n1"
    assert "'n1' inmem open" in repr(c)
    await c.close()
    assert c.closed is False  # (never made: nothing to close)
    async with c:
        assert not c.closed
    assert c.closed
    assert "closed" in repr(c)


# -- the client is made on the worker thread, registered from the loop's ------------------


async def test_the_client_is_made_on_a_worker_thread_and_registered_from_the_loops() -> None:
    made_in: list[str] = []
    config = inmem.new_consumer(*BASE, options.inmem_store(InmemStore())).config

    def make() -> Any:
        made_in.append(threading.current_thread().name)
        return inmem.new_consumer(options.inmem_store(store_of(b"a")))

    before = signal.getsignal(signal.SIGTERM)
    async with AsyncConsumerFront(config, make) as c:
        # (registered from this thread, the main one: the coordinator's handler is in)
        assert signal.getsignal(signal.SIGTERM) == COORDINATOR._handle
        got = [m.value async for m in c]
    assert made_in and made_in[0] != threading.current_thread().name
    assert made_in[0].startswith("streamprocessor-")
    assert got == [b"a"]
    # closed on the worker thread, unregistered from this one: the handler is back
    assert signal.getsignal(signal.SIGTERM) is before


async def test_a_consumer_is_made_lazily_by_its_first_use() -> None:
    c = inmem.new_async_consumer(*BASE, options.inmem_store(store_of(b"a", b"b")))
    assert await c.backlog() == 2
    async for m in c:
        await c.ack(m)
    assert await c.backlog() == 0
    await c.close()
    assert c.closed


# -- cancellation keeps the batch in flight ------------------------------------------------


async def test_cancelling_the_iterating_task_keeps_a_fetch_in_flight() -> None:
    """The fetch waits on the worker when its task is cancelled; what it brings is kept."""
    store = InmemStore()
    async with inmem.new_async_consumer(
        *BASE, options.inmem_store(store), options.inmem_listen()
    ) as c:

        async def first() -> list[bytes | None]:
            return [m.value async for m in c]

        task = asyncio.create_task(first())
        await asyncio.sleep(0.2)  # (the fetch now waits for messages on the worker)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for v in (b"m0", b"m1", b"m2"):
            store.add(Message(value=v))
        got: list[bytes | None] = []
        async for m in c:
            got.append(m.value)
            await c.ack(m)
            if len(got) == 3:
                break
        assert got == [b"m0", b"m1", b"m2"]
        assert await c.backlog() == 0


async def test_cancelling_mid_batch_hands_out_the_rest_next_time() -> None:
    store = store_of(*(b"m%d" % i for i in range(10)))
    async with inmem.new_async_consumer(*BASE, options.inmem_store(store)) as c:
        seen: list[bytes | None] = []

        async def handle_some() -> None:
            async for m in c:
                seen.append(m.value)
                await c.ack(m)
                if len(seen) == 4:
                    await asyncio.sleep(10)  # (cancelled here, a message acked in hand)

        task = asyncio.create_task(handle_some())
        while len(seen) < 4:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        async for m in c:
            seen.append(m.value)
            await c.ack(m)
        assert seen == [b"m%d" % i for i in range(10)]


# -- an interrupt wakes the loop -----------------------------------------------------------


async def test_an_interrupt_ends_an_iteration_that_waits_for_input() -> None:
    async with inmem.new_async_consumer(
        *BASE,
        options.inmem_store(InmemStore()),
        options.inmem_listen(),
        options.manual_interrupt_handling(),
    ) as c:
        loop = asyncio.get_running_loop()
        loop.call_later(0.2, c._front.interrupt)  # type: ignore[attr-defined]
        t0 = loop.time()
        got = [m async for m in c]
        assert got == []
        assert loop.time() - t0 < 2.0


# -- the standard output: a send that would write waits on the worker ----------------------


async def test_stdout_sends_never_write_on_the_loop(tmp_path: Any) -> None:
    """A send that fills a block is written on the worker thread, in order."""
    path = tmp_path / "out.txt"
    writes: list[str] = []
    with open(path, "wb", buffering=0) as f:

        class Recording:
            def write(self, data: Any) -> int:
                writes.append(threading.current_thread().name)
                return f.write(data) or 0

        main = threading.current_thread().name
        lines = [b"%06d" % i + b"x" * 1000 for i in range(300)]  # ~300 KiB: several blocks
        async with standardstream.new_async_producer(
            *BASE, options.standardstream_writer(Recording())
        ) as p:
            for v in lines:
                await p.send(Message(value=v))
            await p.flush()
    assert path.read_bytes().split(b"\n")[:-1] == lines
    assert writes and main not in writes


# -- the pytest plugin runs async tests; run_handler works in them ------------------------


async def test_run_handler_works_in_an_async_test() -> None:
    from streamprocessor.testing import run_handler

    result = run_handler(lambda m: Message(value=m.value.upper()), [b"a", b"b"])
    assert result.values == [b"A", b"B"]


def test_the_plugin_runs_async_tests_and_reports_their_failures(pytester: Any) -> None:
    pytester.makepyfile(
        """
        import asyncio

        async def test_passes(inmem_store):
            await asyncio.sleep(0)
            assert inmem_store.messages() == []

        async def test_fails():
            await asyncio.sleep(0)
            assert 1 == 2
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*assert 1 == 2*"])


def test_the_top_level_names_exist() -> None:
    assert streamprocessor.new_async_consumer is not None
    assert sys.modules["streamprocessor"].AsyncConsumer is streamprocessor.stream.AsyncConsumer
