"""The contract every client keeps: ``Consumer``, ``Producer``, ``ErrorCloser``, ``Store``.

``BatchConsumer`` is the consumer's batch interface, for loops that handle many messages
per step (the runner uses nothing else); every consumer of the library has it.

Thread safety: ``Producer.send`` and ``Consumer.ack`` / ``nack`` / ``backlog`` / ``close``
may be called from any thread; a consumer is iterated by one thread at a time.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from datetime import timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self, TypeGuard, runtime_checkable

from streamprocessor.stream.message import Message
from streamprocessor.stream.store import Store

if TYPE_CHECKING:
    from streamprocessor.config.models import ConsumerConfig, ProducerConfig

__all__ = [
    "AsyncConsumer",
    "AsyncProducer",
    "BatchConsumer",
    "Consumer",
    "ErrorCloser",
    "Producer",
    "ReportsRefusals",
    "Store",
    "has_batches",
]


@runtime_checkable
class ErrorCloser(Protocol):
    """Something that reports errors and can be closed.

    ``close()`` is idempotent (later calls return at once) and bounded in time. Every
    client is a context manager that closes on exit.

    Errors: by default a fatal client error is logged, the client closes itself cleanly
    and the error is raised at the caller's next call. With
    ``options.manual_error_handling()`` nothing is raised; the errors arrive on
    ``errors()`` instead, an iterable that ends when the client is closed.
    """

    def errors(self) -> Iterable[BaseException]:
        """Return the iterable of this client's errors (manual error handling only)."""
        ...

    def close(self) -> None:
        """Release the client: flush what was sent, commit what was acknowledged."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


@runtime_checkable
class Consumer(ErrorCloser, Protocol):
    """A source of messages: ``for msg in consumer: ...``.

    Iteration ends when the stream ends (stdin at EOF, an in-memory store read once), when
    the consumer is closed, or after an interrupt (SIGINT/SIGTERM/SIGQUIT) once the
    messages already taken from the source are handed out. Iterating a closed consumer
    ends at once.

    ``ack(msg)`` marks a message as done. It is a barrier: the acknowledged position is
    committed only once every message sent before the ack, on any open producer of the
    process, is confirmed delivered. Acks may come in any order; the committed position
    only ever covers an acknowledged prefix.

    ``nack(msg)`` makes the message be delivered again (before later messages of the same
    partition or stream).

    ``backlog()`` is the number of messages not yet acknowledged (0 where the client has
    no such notion). ``ack``/``nack`` on a closed consumer raise ``ClientClosedError``.
    """

    config: ConsumerConfig

    def __iter__(self) -> Iterator[Message]: ...

    def messages(self) -> Iterator[Message]:
        """Return the iterator of messages (the same as ``iter(consumer)``)."""
        ...

    def ack(self, msg: Message) -> None:
        """Acknowledge ``msg``: it will not be delivered again once committed."""
        ...

    def nack(self, msg: Message) -> None:
        """Refuse ``msg``: it will be delivered again."""
        ...

    def backlog(self) -> int:
        """Return how many messages are not yet acknowledged."""
        ...


@runtime_checkable
class Producer(ErrorCloser, Protocol):
    """A sink of messages: ``producer.send(msg)``.

    ``send`` may buffer; ``flush(timeout)`` waits until everything sent is delivered
    (raises ``FlushTimeoutError`` naming what is left), and ``close()`` flushes. Which
    fields a producer writes depends on the client (stdout writes only ``value``). A
    producer never sends to ``msg.consumer_topic``: the destination is
    ``msg.producer_topic`` or the configured topic.
    """

    config: ProducerConfig

    def send(self, msg: Message) -> None:
        """Send ``msg`` (possibly buffered)."""
        ...

    def flush(self, timeout: float | timedelta | None = None) -> None:
        """Wait until every message sent so far is delivered."""
        ...


@runtime_checkable
class BatchConsumer(Consumer, Protocol):
    """A consumer that also hands out its messages a fetched batch at a time.

    ``for batch in consumer.batches(): ...`` yields lists of messages in the order
    iteration would hand them out, and ends (or raises) as iteration does. The caller
    handles the messages of a batch in order and, before each, looks at ``halted``: once
    it is true (a signal, ``close()``), it handles no more; it acknowledges what it
    handled with one ``ack_batch`` and returns the rest with ``give_back``. A batch is the
    caller's until it asks for the next one: the list is emptied then, so that two batches
    are never alive at once (copy it to keep it).

    ``pause(msgs)``/``resume(paused)`` let a caller that cannot keep up with part of the
    input (a worker with a long queue) stop fetching from where ``msgs`` came from (Kafka:
    their partitions) while the rest flows on; nothing is skipped or lost.
    """

    #: True once this consumer hands out no more messages (interrupt, close): a caller of
    #: ``batches()`` stops before the next message of its batch
    halted: bool

    def batches(self) -> Iterator[list[Message]]:
        """Return the iterator of fetched batches (lists, never empty)."""
        ...

    def ack_batch(self, msgs: Sequence[Message]) -> None:
        """Acknowledge ``msgs`` (from one batch, in order), as ``ack`` of each in turn."""
        ...

    def give_back(self, msgs: Sequence[Message]) -> list[Message]:
        """Return to the consumer the messages of a batch that were not handled.

        They are not acknowledged, so they come again (after a restart, or to the next
        reader of the same input). Returns those the caller must handle after all because
        the input cannot take them back on their own (a file re-read from one position
        when handled lines follow them); the caller then gives back what of those it did
        not handle. Usually empty.
        """
        ...

    def pause(self, msgs: Sequence[Message]) -> list[object] | None:
        """Stop fetching from where ``msgs`` came from; what to give ``resume`` later.

        ``[]`` when all of it was paused already; ``None`` when this consumer cannot pause
        (or pausing would stop everything): the caller waits instead.
        """
        ...

    def resume(self, paused: Sequence[object]) -> None:
        """Fetch again from what ``pause`` returned (from any thread)."""
        ...

    def rewind_uncommitted(self) -> tuple[Callable[[Message], bool], int] | None:
        """Hand out again every message handed out and not committed yet, from the first.

        Acknowledgements still waiting for the barrier are dropped. Returns ``(again, n)``
        — ``again(msg)`` tells whether ``msg`` is one of the ``n`` messages that come
        again — or None when this consumer cannot hand messages out again (a pipe).
        """
        ...


@runtime_checkable
class ReportsRefusals(Protocol):
    """A producer that can say which of its sends the backend refused for good, later.

    ``on_refused(callback)``: each send refused alone in a delivery report goes to
    ``callback`` (a ``streamprocessor.util.barrier.RefusedSend``) instead of failing the
    producer; None goes back to failing it.
    """

    def on_refused(self, callback: Callable[[Any], None] | None) -> None:
        """Register (or, with None, remove) the callback of refused sends."""
        ...


class _AsyncErrorCloser(Protocol):
    """What both async clients have: errors, close, ``async with``."""

    def errors(self) -> AsyncIterator[BaseException]:
        """Return this client's errors, an async iterable (manual error handling only)."""
        ...

    async def close(self) -> None:
        """Release the client: flush what was sent, commit what was acknowledged."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


@runtime_checkable
class AsyncConsumer(_AsyncErrorCloser, Protocol):
    """A source of messages for asyncio code: ``async for msg in consumer: ...``.

    The same contract as :class:`Consumer`, on every client type
    (``streamprocessor.new_async_consumer()``): iteration ends at the end of the stream,
    at close, or after an interrupt once the message in hand is handled; ``ack`` is the
    same barrier (it waits for the sends made before it on every producer of the process,
    sync or async); acks may come in any order; ``nack`` delivers the message again.

    Nothing blocking runs on the event loop: fetching, committing, closing and making the
    client (a connect) run on the client's worker thread, one hop per fetched batch.
    ``await consumer.ack(msg)`` never waits (the ack is taken at the call); ``nack``,
    ``backlog`` and ``close`` are coroutines. Cancelling the task that iterates ends the
    iteration at once and loses nothing: what was being fetched is handed out by the next
    iteration, or comes again after close. One task iterates at a time. The process-wide
    shutdown coordinator handles SIGINT/SIGTERM for sync and async clients alike: a signal
    ends the iteration (asyncio's main task is not cancelled) and ``async with`` closes.
    """

    @property
    def config(self) -> ConsumerConfig:
        """The consumer's configuration."""
        ...

    def __aiter__(self) -> AsyncIterator[Message]: ...

    def messages(self) -> AsyncIterator[Message]:
        """Return the async iterator of messages (the same as ``aiter(consumer)``)."""
        ...

    def ack(self, msg: Message) -> Awaitable[None]:
        """Acknowledge ``msg`` (taken at the call; the awaitable is already done)."""
        ...

    async def nack(self, msg: Message) -> None:
        """Refuse ``msg``: it will be delivered again."""
        ...

    async def backlog(self) -> int:
        """Return how many messages are not yet acknowledged."""
        ...


@runtime_checkable
class AsyncProducer(_AsyncErrorCloser, Protocol):
    """A sink of messages for asyncio code: ``await producer.send(msg)``.

    The same contract as :class:`Producer`. ``send`` takes the message at the call; the
    awaitable waits only for room in the client's queue (done at once in the usual case;
    cancelling the wait does not unsend it), and sends keep their order. ``flush`` and
    ``close`` wait on the client's worker thread, never on the loop.
    """

    @property
    def config(self) -> ProducerConfig:
        """The producer's configuration."""
        ...

    def send(self, msg: Message) -> Awaitable[None]:
        """Send ``msg``; await the result to wait for room in the queue."""
        ...

    async def flush(self, timeout: float | timedelta | None = None) -> None:
        """Wait until every message sent so far is delivered."""
        ...


_BATCH_MEMBERS = ("batches", "ack_batch", "give_back", "pause", "resume", "rewind_uncommitted")


def has_batches(consumer: Consumer) -> TypeGuard[BatchConsumer]:
    """Tell whether ``consumer`` is a :class:`BatchConsumer`.

    As ``isinstance(consumer, BatchConsumer)``, without reading its attributes (on Python
    3.11 ``isinstance`` reads properties such as ``config``, which may build the config).
    """
    return all(
        callable(inspect.getattr_static(consumer, name, None)) for name in _BATCH_MEMBERS
    ) and inspect.getattr_static(consumer, "halted", None) is not None
