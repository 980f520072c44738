"""Message stores: ``InmemStore`` backs the in-memory client."""

from streamprocessor.stores.inmem import InmemStore, default_store

__all__ = ["InmemStore", "default_store"]
