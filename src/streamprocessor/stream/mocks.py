"""Mocks of a consumer and a producer for unit tests of code that takes clients."""

from __future__ import annotations

import queue
from collections.abc import Iterable, Iterator
from datetime import timedelta
from types import TracebackType
from typing import Any, Self

from streamprocessor.stream.message import Message

__all__ = ["ConsumerMock", "ProducerMock"]

_END = object()


class _Channel:
    """An unbounded, closable queue: iterate until closed."""

    def __init__(self) -> None:
        self._q: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.closed = False

    def put(self, item: Any) -> None:
        self._q.put(item)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._q.put(_END)

    def __iter__(self) -> Iterator[Any]:
        while True:
            item = self._q.get()
            if item is _END:
                self._q.put(_END)  # other readers end too
                return
            yield item


class ConsumerMock:
    """A consumer whose messages and errors are whatever the test puts in.

    ``messages_chan.put(msg)`` offers a message, ``errors_chan.put(exc)`` an error; iteration
    ends when the mock is closed. ``ack``/``nack`` are recorded in ``acked``/``nacked``.
    Unlike the original, ``close()`` is idempotent.
    """

    def __init__(self, configuration: Any = None, messages: Iterable[Message] = ()) -> None:
        self.config = configuration
        self.configuration = configuration
        self.messages_chan = _Channel()
        self.errors_chan = _Channel()
        self.acked: list[Message] = []
        self.nacked: list[Message] = []
        for m in messages:
            self.messages_chan.put(m)

    def __iter__(self) -> Iterator[Message]:
        return iter(self.messages_chan)

    def messages(self) -> Iterator[Message]:
        """Return the iterator of offered messages."""
        return iter(self.messages_chan)

    def ack(self, msg: Message) -> None:
        """Record ``msg`` as acknowledged."""
        self.acked.append(msg)

    def nack(self, msg: Message) -> None:
        """Record ``msg`` as refused."""
        self.nacked.append(msg)

    def backlog(self) -> int:
        """Return 0, like the original."""
        return 0

    def errors(self) -> Iterable[BaseException]:
        """Return the errors the test put in."""
        return iter(self.errors_chan)

    def close(self) -> None:
        """End iteration of messages and errors."""
        self.messages_chan.close()
        self.errors_chan.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class ProducerMock:
    """A producer that records what is sent in ``sent`` (and on ``messages_chan``)."""

    def __init__(self, configuration: Any = None) -> None:
        self.config = configuration
        self.configuration = configuration
        self.messages_chan = _Channel()
        self.errors_chan = _Channel()
        self.sent: list[Message] = []

    def send(self, msg: Message) -> None:
        """Record ``msg``."""
        self.sent.append(msg)
        self.messages_chan.put(msg)

    def flush(self, timeout: float | timedelta | None = None) -> None:
        """Do nothing: everything is recorded at once."""

    def errors(self) -> Iterable[BaseException]:
        """Return the errors the test put in."""
        return iter(self.errors_chan)

    def close(self) -> None:
        """Close the channels."""
        self.messages_chan.close()
        self.errors_chan.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
