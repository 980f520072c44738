"""A plain :class:`~streamprocessor.stream.Consumer` seen as a ``BatchConsumer``, for the runner."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Self

from streamprocessor.stream import Consumer, Message

if TYPE_CHECKING:
    from streamprocessor.config.models import ConsumerConfig

__all__ = ["OneByOne"]


class OneByOne:
    """A plain :class:`Consumer` seen as a :class:`BatchConsumer`: batches of one message.

    It cannot pause, and what it is given back is consumed again (never owed).
    """

    halted = False

    def __init__(self, consumer: Consumer) -> None:
        self._consumer = consumer

    @property
    def config(self) -> ConsumerConfig:
        """The consumer's config."""
        return self._consumer.config

    @config.setter
    def config(self, config: ConsumerConfig) -> None:
        self._consumer.config = config

    def __iter__(self) -> Iterator[Message]:
        return iter(self._consumer)

    def messages(self) -> Iterator[Message]:
        """The consumer's messages."""
        return self._consumer.messages()

    def batches(self) -> Iterator[list[Message]]:
        """Each message as a batch of its own."""
        return ([msg] for msg in self._consumer)

    def ack(self, msg: Message) -> None:
        """The consumer's ``ack``."""
        self._consumer.ack(msg)

    def nack(self, msg: Message) -> None:
        """The consumer's ``nack``."""
        self._consumer.nack(msg)

    def ack_batch(self, msgs: Sequence[Message]) -> None:
        """``ack`` each in turn."""
        for msg in msgs:
            self._consumer.ack(msg)

    def give_back(self, msgs: Sequence[Message]) -> list[Message]:
        """Nothing to do: unacknowledged messages are consumed again."""
        return []

    def pause(self, msgs: Sequence[Message]) -> list[object] | None:
        """Cannot pause."""
        return None

    def resume(self, paused: Sequence[object]) -> None:
        """Nothing was paused."""

    def rewind_uncommitted(self) -> tuple[Callable[[Message], bool], int] | None:
        """Cannot."""
        return None

    def backlog(self) -> int:
        """The consumer's backlog."""
        return self._consumer.backlog()

    def errors(self) -> Iterable[BaseException]:
        """The consumer's errors."""
        return self._consumer.errors()

    def close(self) -> None:
        """Close the consumer."""
        self._consumer.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
