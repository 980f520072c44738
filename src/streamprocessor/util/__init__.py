"""Utilities: merging client errors, interrupt handling, the ``--help`` usage printer."""

from streamprocessor.util.errors import errors
from streamprocessor.util.interrupts import COORDINATOR, ShutdownCoordinator

__all__ = ["COORDINATOR", "ShutdownCoordinator", "errors"]
