"""Mocks of a consumer and a producer for unit tests of code that takes clients."""

from __future__ import annotations

import queue
from collections.abc import Iterable, Iterator
from datetime import timedelta
from types import TracebackType
from typing import Any, Self

from streamprocessor.stream.message import Message

__all__ = ["Channel", "ConsumerMock", "ProducerMock"]

_END = object()


class Channel:
    """An unbounded, closable queue: iterating it ends once it is closed and drained.

    Several readers may iterate it; each item goes to one of them.
    """

    def __init__(self) -> None:
        self._q: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.closed = False

    def put(self, item: Any) -> None:
        """Append ``item``."""
        self._q.put(item)

    def close(self) -> None:
        """End iteration once every item put before is read (idempotent)."""
        if not self.closed:
            self.closed = True
            self._q.put(_END)

    def get(self, timeout: float | None = None) -> Any:
        """Return the next item, or ``None`` at the end or after ``timeout`` seconds."""
        try:
            item = self._q.get(timeout=timeout)
        except queue.Empty:
            return None
        if item is _END:
            self._q.put(_END)  # other readers end too
            return None
        return item

    def __iter__(self) -> Iterator[Any]:
        while True:
            item = self._q.get()
            if item is _END:
                self._q.put(_END)  # other readers end too
                return
            yield item


class _MockBase:
    """What both mocks share: configuration, the error channel, close and ``with``."""

    def __init__(self, configuration: Any) -> None:
        self.config = configuration
        self.configuration = configuration
        self.messages_chan = Channel()
        self.errors_chan = Channel()

    def errors(self) -> Iterable[BaseException]:
        """Return the errors the test put in."""
        return iter(self.errors_chan)

    def close(self) -> None:
        """End iteration of messages and errors (idempotent, unlike the original)."""
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


class ConsumerMock(_MockBase):
    """A consumer whose messages and errors are whatever the test puts in.

    ``messages_chan.put(msg)`` offers a message, ``errors_chan.put(exc)`` an error; iteration
    ends when the mock is closed. ``ack``/``nack`` are recorded in ``acked``/``nacked``.
    Unlike the original, ``close()`` is idempotent.
    """

    def __init__(self, configuration: Any = None, messages: Iterable[Message] = ()) -> None:
        super().__init__(configuration)
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


class ProducerMock(_MockBase):
    """A producer that records what is sent in ``sent`` (and on ``messages_chan``)."""

    def __init__(self, configuration: Any = None) -> None:
        super().__init__(configuration)
        self.sent: list[Message] = []

    def send(self, msg: Message) -> None:
        """Record ``msg``."""
        self.sent.append(msg)
        self.messages_chan.put(msg)

    def flush(self, timeout: float | timedelta | None = None) -> None:
        """Do nothing: everything is recorded at once."""
