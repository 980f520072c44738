"""The conformance suite's async form: the same tests, every call through the async face.

:func:`async_form` wraps a :class:`~streamprocessor.testing.conformance.Harness`: each
client it makes is wrapped in its async face (``AsyncConsumerFront.over``,
``AsyncProducerFront.over``), and the suite's sync calls reach it through a small adapter
that runs each one as a coroutine on an event loop of the test's own
(:class:`~streamprocessor.util.loopthread.LoopThread`): iteration is ``async for``
(``__anext__`` on the loop), ``ack`` is ``await consumer.ack(msg)``, ``send`` is ``await
producer.send(msg)``, and so on. The clients are made in the test's thread, so they
register for signals as sync ones do.

Private: import :func:`async_form` from :mod:`streamprocessor.testing`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import CancelledError
from datetime import timedelta
from typing import Any, TypeVar

from streamprocessor.clients.front.aio import AsyncConsumerFront, AsyncProducerFront
from streamprocessor.stream import Consumer, Message, Producer
from streamprocessor.testing._kit import Harness
from streamprocessor.util.loopthread import LoopThread

__all__ = ["AsyncForm", "async_form"]

T = TypeVar("T")


class _Driven:
    """What both adapters share: a call on the loop, errors, close, ``with``."""

    def __init__(self, face: Any, sync: Any, loop: LoopThread) -> None:
        self.face = face
        self.sync = sync  # (the harness's own client, for provoke_fatal and ready)
        self._loop = loop

    def _on_loop(self, make: Callable[[], Awaitable[T]]) -> T:
        return self._loop.call(make)

    @property
    def config(self) -> Any:
        return self.face.config

    @property
    def closed(self) -> bool:
        return bool(self.face.closed)

    def errors(self) -> Iterator[BaseException]:
        return _pull(self._loop, self.face.errors())

    def close(self) -> None:
        self._on_loop(self.face.close)

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _pull(loop: LoopThread, it: AsyncIterator[T]) -> Iterator[T]:
    """Iterate the async iterator ``it`` from sync code (each step on the loop)."""
    try:
        while True:
            try:
                yield loop.call(it.__anext__)
            except StopAsyncIteration:
                return
    finally:
        aclose = getattr(it, "aclose", None)
        if aclose is not None:
            # (a thread the suite left waiting ends when the test's loop is closed)
            with contextlib.suppress(CancelledError, RuntimeError):
                loop.call(aclose)


class _DrivenConsumer(_Driven):
    face: AsyncConsumerFront

    def __iter__(self) -> Iterator[Message]:
        return _pull(self._loop, aiter(self.face))

    def messages(self) -> Iterator[Message]:
        return iter(self)

    def ack(self, msg: Message) -> None:
        self._on_loop(lambda: self.face.ack(msg))

    def nack(self, msg: Message) -> None:
        self._on_loop(lambda: self.face.nack(msg))

    def backlog(self) -> int:
        return self._on_loop(self.face.backlog)


class _DrivenProducer(_Driven):
    face: AsyncProducerFront

    def send(self, msg: Message) -> None:
        self._on_loop(lambda: self.face.send(msg))

    def flush(self, timeout: float | timedelta | None = None) -> None:
        self._on_loop(lambda: self.face.flush(timeout))


class AsyncForm(Harness):
    """A harness whose clients are driven through their async face (see the module)."""

    def __init__(self, inner: Harness) -> None:
        super().__init__(features=inner.features, timeout=inner.timeout)
        self.inner = inner
        self.loop = LoopThread("conformance-async-loop")

    def _consumer(self, sync: Any) -> Any:
        return _DrivenConsumer(AsyncConsumerFront.over(sync), sync, self.loop)

    def _producer(self, sync: Any) -> Any:
        return _DrivenProducer(AsyncProducerFront.over(sync), sync, self.loop)

    def new_consumer(self, *options: Any) -> Consumer:
        return self._consumer(self.inner.new_consumer(*options))  # type: ignore[no-any-return]

    def new_producer(self, *options: Any) -> Producer:
        return self._producer(self.inner.new_producer(*options))  # type: ignore[no-any-return]

    def new_breakable_consumer(self, *options: Any) -> Consumer:
        return self._consumer(self.inner.new_breakable_consumer(*options))  # type: ignore[no-any-return]

    def new_breakable_producer(self, *options: Any) -> Producer:
        return self._producer(self.inner.new_breakable_producer(*options))  # type: ignore[no-any-return]

    def provoke_fatal(self, client: Any) -> None:
        self.inner.provoke_fatal(getattr(client, "sync", client))

    def ready(self, consumer: Any) -> None:
        self.inner.ready(getattr(consumer, "sync", consumer))

    def settle(self) -> None:
        self.inner.settle()

    def close(self) -> None:
        try:
            self.inner.close()
        finally:
            self.loop.close()


def async_form(harness: Harness) -> Harness:
    """Return ``harness`` with its clients driven through their async face."""
    return AsyncForm(harness)
