"""The Store protocol: what the in-memory client keeps its messages in."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from streamprocessor.stream.message import Message

__all__ = ["Store"]


@runtime_checkable
class Store(Protocol):
    """An ordered, thread-safe collection of messages (the in-memory client's backing)."""

    def add(self, msg: Message) -> None:
        """Append a copy of ``msg``."""
        ...

    def delete(self, msg: Message) -> None:
        """Remove one stored message equal to ``msg`` (the first one)."""
        ...

    def flush(self) -> None:
        """Remove every message."""
        ...

    def messages(self) -> list[Message]:
        """Return copies of the stored messages, in order."""
        ...
