"""The in-memory sections of the configs: ``config.inmem``, the store and its mode."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from streamprocessor.config.fields import Bool
from streamprocessor.config.section import Section, describe
from streamprocessor.stores import default_store
from streamprocessor.stream.store import Store

__all__ = ["InmemConsumerConfig", "InmemProducerConfig"]


class _Stored(Section):
    store: Store = Field(default_factory=default_store)

    def printable_value(self, key: str, value: Any) -> Any:
        if key == "store":
            return "<default InmemStore>" if value is default_store() else describe(value)
        return super().printable_value(key, value)


class InmemConsumerConfig(_Stored):
    """The in-memory consumer section: the store to read and whether to read it once.

    ``consume_once`` (default) reads the messages present at start and ends, leaving the
    store untouched; ``False`` listens for new messages and removes acknowledged ones.
    """

    consume_once: Bool = True


class InmemProducerConfig(_Stored):
    """The in-memory producer section: the store written to."""
