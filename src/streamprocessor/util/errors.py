"""Merging the error channels of several clients."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

__all__ = ["errors"]

_END = object()


class _HasErrors(Protocol):
    def errors(self) -> Iterable[BaseException]: ...


def errors(*clients: _HasErrors | None) -> Iterator[BaseException]:
    """Return one iterator over the errors of every given client (``None`` is skipped).

    Each client's errors keep their order. The iterator ends when every client's error
    channel has ended (the clients are closed). Use it with
    ``options.manual_error_handling()``.
    """
    sources = [c for c in clients if c is not None]
    merged: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def forward(src: _HasErrors) -> None:
        try:
            for exc in src.errors():
                merged.put(exc)
        finally:
            merged.put(_END)

    for src in sources:
        threading.Thread(target=forward, args=(src,), daemon=True, name="sp-errors").start()

    def read() -> Iterator[BaseException]:
        left = len(sources)
        while left:
            item = merged.get()
            if item is _END:
                left -= 1
                continue
            yield item

    return read()
