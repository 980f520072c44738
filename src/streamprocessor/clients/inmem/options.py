"""The in-memory client type's options (Go ``InmemListen``, ``InmemStore``).

They are reached as ``streamprocessor.options.inmem_…`` too.
"""

from __future__ import annotations

from streamprocessor.config.build import Option
from streamprocessor.config.optionkit import fixed, setter
from streamprocessor.stream.store import Store

__all__ = [
    "inmem_listen",
    "inmem_store",
]


def inmem_listen() -> Option:
    """Keep listening to the store for new messages (Go ``InmemListen``; consumer).

    Environment: ``*_INMEM_CONSUME_ONCE=false``.
    """
    return fixed("consumer", "inmem_listen", "inmem.consume_once", False)


def inmem_store(s: Store) -> Option:
    """Use the store ``s`` (a ``stream.Store``) for the in-memory client (Go ``InmemStore``)."""
    return setter("both", "inmem_store", "inmem.store", s)
