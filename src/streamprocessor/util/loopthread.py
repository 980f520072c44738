"""An event loop on a private thread, for sync code that must drive async code.

The one shared helper for a backend whose library is async-only (nats-py, aio-pika): its
ports are sync (``fetch``, ``send``, ``close`` …, see ``streamprocessor.clients.ports``)
and call the library's coroutines on a :class:`LoopThread` of their own, so the one front
and the async face drive them like any other port. The conformance suite's async form
uses it too, to drive async clients from its sync tests.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

__all__ = ["LoopThread"]

T = TypeVar("T")


def _settle(cf: concurrent.futures.Future[T], task: asyncio.Task[T]) -> None:
    if task.cancelled():
        cf.cancel()
    elif not cf.set_running_or_notify_cancel():
        return  # (cancelled by the caller)
    elif (exc := task.exception()) is not None:
        cf.set_exception(exc)
    else:
        cf.set_result(task.result())


async def _await(make: Callable[[], Awaitable[T]]) -> T:
    return await make()


class LoopThread:
    """An asyncio event loop running on a daemon thread of its own until :meth:`close`."""

    def __init__(self, name: str = "streamprocessor-loop") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def call(self, make: Callable[[], Awaitable[T]], timeout: float | None = None) -> T:
        """Run ``make()`` on the loop (it is called there) and return what it returns.

        Blocks the calling thread (never the loop's own) for at most ``timeout`` seconds
        (``TimeoutError`` then; the coroutine is cancelled); raises what it raises.
        """
        if threading.current_thread() is self._thread:
            raise RuntimeError("LoopThread.call from the loop's own thread would wait forever")
        cf: concurrent.futures.Future[T] = concurrent.futures.Future()
        loop = self.loop

        def start() -> None:  # (on the loop: the coroutine exists only once it runs)
            if cf.cancelled():
                return
            task = loop.create_task(_await(make))
            task.add_done_callback(lambda t: _settle(cf, t))
            cf.add_done_callback(
                lambda f: f.cancelled() and loop.call_soon_threadsafe(task.cancel)
            )

        loop.call_soon_threadsafe(start)
        try:
            return cf.result(timeout)
        except TimeoutError:
            cf.cancel()
            raise

    def close(self, timeout: float = 5.0) -> None:
        """Cancel what still runs on the loop, stop it and close it (idempotent)."""
        if self.loop.is_closed():
            return
        if self._thread.is_alive():

            async def cancel_all() -> None:
                me = asyncio.current_task()
                tasks = [t for t in asyncio.all_tasks() if t is not me]
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                await self.loop.shutdown_asyncgens()

            with contextlib.suppress(TimeoutError, RuntimeError):
                asyncio.run_coroutine_threadsafe(cancel_all(), self.loop).result(timeout)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout)
        if not self._thread.is_alive():
            self.loop.close()

    def __enter__(self) -> LoopThread:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
