"""The async face: an async consumer and producer over the one front, for asyncio code.

No client logic is here. Each async client wraps the sync front of its type
(:class:`ConsumerFront`, :class:`ProducerFront`) and drives it from an event loop; the
front keeps every promise of the contract, once, for both faces. What may block (a fetch,
a flush, a commit on close, making the client: a connect) runs on the client's own worker
thread — one per client, so a source or sink keeps one owner — with one thread hop per
fetched batch. What cannot block runs on the loop, eagerly: ``ack(msg)``, and
``send(msg)`` while the sink has room, do their work at the call and return an awaitable
that is already done (awaiting it costs no loop step).

Cancelling the task that iterates ends the iteration at once and loses nothing: a batch
being fetched on the worker thread goes to the consumer's buffer and is handed out by the
next iteration (or, at close, comes again as every unacknowledged message does). A send
is taken at the call: cancelling the wait for room in the queue does not unsend it.

Interrupts: the front registers with the one shutdown coordinator, which owns the OS
handlers for sync and async clients alike; on a signal the front stops and wakes the loop
(``call_soon_threadsafe``), the iteration ends, ``async with`` closes, and asyncio's own
SIGINT handling (``asyncio.run`` cancelling its main task) is not reached.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, NoReturn, Self, TypeVar, cast

from streamprocessor.clients.front.client import (
    ClientFront,
    ErrorChannel,
    State,
    registration_deferred,
    seconds,
)
from streamprocessor.clients.front.consumer import ConsumerFront
from streamprocessor.clients.front.producer import ProducerFront
from streamprocessor.stream.errors import ClientError
from streamprocessor.stream.message import Message

if TYPE_CHECKING:
    from streamprocessor.config.models import ClientConfig, ConsumerConfig, ProducerConfig

__all__ = ["DONE", "AsyncConsumerFront", "AsyncProducerFront"]


class _Done(tuple[()]):
    """Awaiting it returns None at once, in C (``tuple.__iter__`` of the empty tuple)."""

    __slots__ = ()
    __await__ = tuple.__iter__


#: what ``ack`` and a ``send`` with room in the queue return: an awaitable already done
DONE: Awaitable[None] = cast("Awaitable[None]", _Done())

FrontT = TypeVar("FrontT", bound=ClientFront[Any])
#: seconds between two looks at a client's error channel while ``errors()`` waits
_ERROR_POLL = (0.005, 0.1)


def _closes(front: ClientFront[Any]) -> bool:
    """Whether raising the front's error closes it first (a close may block: the worker)."""
    return front._failure is not None and not front._failure_raised


def _settle(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _wake(loop: asyncio.AbstractEventLoop, waiter: asyncio.Future[None]) -> None:
    """Wake ``waiter`` from any thread (a signal handler too: no locks)."""
    with contextlib.suppress(RuntimeError):  # (the loop is closed: nobody waits)
        loop.call_soon_threadsafe(_settle, waiter)


async def _wait(cf: concurrent.futures.Future[Any]) -> Any:
    """Await ``cf`` (from the worker); cancelling the waiting task does not cancel it."""
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[None] = loop.create_future()
    cf.add_done_callback(lambda _: _wake(loop, waiter))
    await waiter
    return cf.result()


class _Worker:
    """The client's worker thread: what may block runs there, one call at a time, in order."""

    __slots__ = ("_lock", "_name", "_pool")

    def __init__(self, name: str) -> None:
        self._name = name
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], *args: Any) -> concurrent.futures.Future[Any]:
        """Run ``fn(*args)`` on the worker thread after what was submitted before."""
        with self._lock:
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(1, self._name)
            return self._pool.submit(fn, *args)

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)`` on the worker thread and return (or raise) what it does."""
        return await _wait(self.submit(fn, *args))

    def shutdown(self) -> None:
        """Let the thread end once what was submitted is done (a later submit starts one)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False)


class _AsyncClient(Generic[FrontT]):
    """What both async clients share: building the front, errors, close, ``async with``."""

    __slots__ = ("__weakref__", "_building", "_config", "_front", "_make", "_worker")

    kind = "client"

    def __init__(self, config: ClientConfig, make: Callable[[], FrontT]) -> None:
        self._config = config
        self._make = make
        self._front: FrontT | None = None
        self._building: concurrent.futures.Future[Any] | None = None
        name = f"streamprocessor-{config.type or 'client'}-{self.kind}"
        self._worker = _Worker(name)

    @classmethod
    def over(cls, front: FrontT) -> Self:
        """Return the async face of ``front``, a sync client of the library made already."""
        client = cls(front.config, lambda: front)
        client._attach(front)
        return client

    def _build(self) -> FrontT:
        with registration_deferred():  # (registered from the loop's thread: _ready)
            return self._make()

    async def _ready(self) -> FrontT:
        """The sync front, made on the worker thread (a connect may block) when first needed."""
        front = self._front
        if front is not None:
            return front
        if self._building is None:
            self._building = self._worker.submit(self._build)
        try:
            made = await _wait(self._building)
        except BaseException:
            self._building = None
            raise
        if self._front is None:
            made._register_interrupts()  # in the loop's thread: signal handlers go there
            self._attach(made)
        return cast("FrontT", self._front)

    def _attach(self, front: FrontT) -> None:
        self._front = front

    @property
    def config(self) -> Any:
        """The client's ``ConsumerConfig`` or ``ProducerConfig``."""
        return self._config

    @property
    def closed(self) -> bool:
        """Whether the client is closed."""
        front = self._front
        return front is not None and front.closed

    def errors(self) -> AsyncIterator[BaseException]:
        """Return this client's errors as an async iterable (manual error handling only).

        It ends when the client is closed. With default error handling it holds a single
        ``ManualErrorsDisabledError`` and ends, as the sync ``errors()`` does.
        """
        return self._errors()

    async def _errors(self) -> AsyncIterator[BaseException]:
        channel: ErrorChannel = (await self._ready()).errors()
        pause, most = _ERROR_POLL
        while True:
            item = channel.get(0)
            if item is not None:
                pause = _ERROR_POLL[0]
                yield item
                continue
            if channel.closed:  # (what was put before the close is read first)
                while (item := channel.get(0)) is not None:
                    yield item
                return
            await asyncio.sleep(pause)
            pause = min(pause * 2, most)

    async def close(self) -> None:
        """Close the client (on its worker thread): idempotent; raises a pending error once."""
        front = self._front
        if front is None:
            if self._building is None:
                return
            front = await self._ready()
        self._before_close(front)
        await self._closing(front, front.close)

    async def _closing(self, front: FrontT, fn: Callable[[], object]) -> None:
        """Run ``fn`` (which may close ``front``) on the worker; unregister it from here."""
        try:
            await self._worker.run(self._deferred, fn)
        finally:
            if front.closed:
                front._unregister_interrupts()  # (in the loop's thread: handlers go back)
                self._worker.shutdown()

    @staticmethod
    def _deferred(fn: Callable[[], object]) -> None:
        with registration_deferred():
            fn()

    def _before_close(self, front: FrontT) -> None:
        """Hook of the consumer: wake a fetch that waits, so the close is not queued behind it."""

    async def __aenter__(self) -> Self:
        await self._ready()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        front = self._front
        if exc is not None and front is not None and front._failure is exc:
            front._failure_raised = True  # it is already on its way up
        await self.close()

    def _not_sync(self, used: str, instead: str) -> str:
        return (
            f"this {self._config.type} {self.kind} is an async one and cannot be used with "
            f"`{used}`: use `{instead}`, or make a sync one with "
            f"streamprocessor.new_{self.kind}()"
        )

    def __enter__(self) -> NoReturn:
        raise TypeError(self._not_sync("with", "async with"))

    def __exit__(self, *exc: Any) -> NoReturn:
        raise TypeError(self._not_sync("with", "async with"))

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        name = f" {self._config.name!r}" if self._config.name else ""
        return f"<{type(self).__name__}{name} {self._config.type} {state}>"


def _refuse_ack(msg: Message) -> None:
    raise ClientError(
        "cannot acknowledge a message this consumer did not hand out (it has handed out "
        "none yet: acknowledge the message object you got from `async for`)"
    )


class AsyncConsumerFront(_AsyncClient[ConsumerFront]):
    """A consumer for asyncio code: ``async for msg in consumer``, ``await consumer.ack(msg)``.

    The contract of ``stream.protocols.AsyncConsumer``, kept by the sync front it wraps.
    """

    __slots__ = ("_ack", "_inflight", "_waiter")

    kind = "consumer"

    def __init__(self, config: ConsumerConfig, make: Callable[[], ConsumerFront]) -> None:
        super().__init__(config, make)
        #: the front's ``ack`` once it is made (the acks of a consumer run on the loop)
        self._ack: Callable[[Message], None] = _refuse_ack
        #: the fetch running on the worker thread (kept when the waiting task is cancelled)
        self._inflight: concurrent.futures.Future[bool] | None = None
        #: the loop and the future an iteration waits on while the worker fetches
        self._waiter: tuple[asyncio.AbstractEventLoop, asyncio.Future[None]] | None = None

    @property
    def config(self) -> ConsumerConfig:
        """The consumer's ``ConsumerConfig``."""
        return cast("ConsumerConfig", self._config)

    def _attach(self, front: ConsumerFront) -> None:
        super()._attach(front)
        self._ack = front.ack
        front.on_interrupt = self._interrupted

    def _interrupted(self) -> None:
        """The front stopped (in the signal handler): wake an iteration that waits."""
        waiter = self._waiter
        if waiter is not None:
            _wake(*waiter)

    def _before_close(self, front: ConsumerFront) -> None:
        front.wake()

    # -- iteration ----------------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[Message]:
        return self._messages()

    def messages(self) -> AsyncIterator[Message]:
        """Return the async iterator of messages (the same as ``aiter(consumer)``)."""
        return self._messages()

    def __iter__(self) -> NoReturn:
        raise TypeError(self._not_sync("for", "async for"))

    async def _messages(self) -> AsyncIterator[Message]:
        # (the same steps as ConsumerFront._lists, with the fetch on the worker thread)
        front = self._front or await self._ready()
        if front._unusable:
            await self._raise_pending(front)
            return
        buf = front._buffer
        front._begin_iteration()
        first = True
        ending = False  # the source ended: hand out what is left (nacked ones too)
        try:
            while True:
                if buf:
                    cur = front._take_list(first)
                    first = False
                    for msg in front._cur_it:
                        yield msg
                    cur.clear()  # (all handed out, or put back)
                    continue
                if ending or front._state is not State.OPEN:
                    await self._raise_pending(front)
                    return
                front._unhand()  # (another iterator's list: hand it out before fetching)
                if not buf and not await self._fill(front):
                    ending = True
        finally:
            front._end_iteration()
            if front._state is not State.OPEN and not front.closed:
                self._worker.submit(front._return_dropped)  # (after a fetch in flight)

    async def _fill(self, front: ConsumerFront) -> bool:
        """Fetch into the front's buffer on the worker thread; False at the end of the stream.

        An interrupt wakes the wait at once (the state then says stop); the fetch goes on
        and what it brings is given back to the source, as a sync consumer's would be.
        """
        cf = self._inflight
        if cf is None:
            cf = self._inflight = self._worker.submit(front._fill)
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiter = (loop, waiter)
        cf.add_done_callback(lambda _: _wake(loop, waiter))
        try:
            await waiter
        finally:
            self._waiter = None
        if not cf.done():
            return True  # (woken by an interrupt)
        self._inflight = None
        return bool(cf.result())

    async def _raise_pending(self, front: ConsumerFront) -> None:
        """Raise the front's pending fatal error once, after closing it (on the worker)."""
        if front._failure is not None and not front._failure_raised:
            await self._closing(front, front._raise_pending)

    # -- acks ---------------------------------------------------------------------------

    def ack(self, msg: Message) -> Awaitable[None]:
        """Acknowledge ``msg`` at the call (it never waits); the awaitable is already done.

        Committed once the sends made before it are delivered, as a sync ack.
        """
        front = self._front
        if front is not None and front._unusable and _closes(front):
            return self._closing(front, partial(front.ack, msg))  # (raises why)
        self._ack(msg)
        return DONE

    async def nack(self, msg: Message) -> None:
        """Refuse ``msg``: it is delivered again before later messages (see the client)."""
        front = await self._ready()
        if front._unusable:  # (raises why; closing first when it failed)
            await self._closing(front, partial(front.nack, msg))
        await self._worker.run(front.nack, msg)

    async def backlog(self) -> int:
        """Return the number of messages not yet acknowledged (see the client's docs)."""
        front = await self._ready()
        if front._unusable:  # (raises why; closing first when it failed)
            await self._closing(front, front.backlog)
        n: int = await self._worker.run(front.backlog)
        return n


class AsyncProducerFront(_AsyncClient[ProducerFront]):
    """A producer for asyncio code: ``await producer.send(msg)``.

    The contract of ``stream.protocols.AsyncProducer``, kept by the sync front it wraps.
    """

    __slots__ = ("_nowait", "_order", "_waiting")

    kind = "producer"

    def __init__(self, config: ProducerConfig, make: Callable[[], ProducerFront]) -> None:
        super().__init__(config, make)
        #: the sink's ``send_nowait`` (a send that may wait for room), or None
        self._nowait: Callable[[Message], bool] | None = None
        #: sends waiting for their turn (room in the queue, or the producer being made):
        #: later sends queue behind them, so the order of sends is kept
        self._waiting = 0
        self._order: asyncio.Lock | None = None

    @property
    def config(self) -> ProducerConfig:
        """The producer's ``ProducerConfig``."""
        return cast("ProducerConfig", self._config)

    def _attach(self, front: ProducerFront) -> None:
        super()._attach(front)
        self._nowait = getattr(front._sink, "send_nowait", None)

    def send(self, msg: Message) -> Awaitable[None]:
        """Send ``msg``: taken at the call; the awaitable waits only for room in the queue.

        When the sink has room (the usual case) the send is done at the call and the
        awaitable is already done; otherwise it waits on the worker thread, in order.
        A message the producer refuses raises at the call.
        """
        front = self._front
        if front is None or self._waiting:
            return self._later(msg)
        nowait = self._nowait
        if nowait is None:
            front.send(msg)  # (a sink that never waits: memory)
            return DONE
        if front._unusable:
            if _closes(front):
                return self._closing(front, partial(front.check, "send"))  # (raises why)
            front.check("send")
        if nowait(msg):
            return DONE
        return self._later(msg)

    def _later(self, msg: Message) -> Awaitable[None]:
        """Send ``msg`` after the sends waiting before it (a task: it runs unawaited too)."""
        if self._order is None:
            self._order = asyncio.Lock()
        self._waiting += 1
        task = asyncio.get_running_loop().create_task(self._send_in_turn(msg, self._order))
        return asyncio.shield(task)  # (cancelling the wait does not unsend it)

    async def _send_in_turn(self, msg: Message, order: asyncio.Lock) -> None:
        try:
            async with order:  # (FIFO: the tasks take it in the order they were made)
                front = await self._ready()
                nowait = self._nowait
                if nowait is not None:
                    if front._unusable:
                        await self._closing(front, partial(front.check, "send"))
                    if nowait(msg):
                        return
                await self._worker.run(front.send, msg)
        finally:
            self._waiting -= 1

    async def _sends_in(self) -> None:
        """Wait until every send made before now was taken by the sink."""
        order = self._order
        if self._waiting and order is not None:
            async with order:
                pass

    async def flush(self, timeout: float | timedelta | None = None) -> None:
        """Wait until every message sent is delivered (FlushTimeoutError past ``timeout``)."""
        front = await self._ready()
        await self._sends_in()
        await self._worker.run(front.flush, seconds(timeout))

    async def close(self) -> None:
        """Close the producer: what was sent is flushed (bounded); idempotent."""
        if self._front is not None:
            await self._sends_in()
        await super().close()

    def on_refused(self, callback: Callable[[Any], None] | None) -> None:
        """Hand sends the backend refused alone, later, to ``callback`` (see the sync one)."""
        if self._front is None:
            raise ClientError("the producer is not made yet: call on_refused after `async with`")
        self._front.on_refused(callback)
