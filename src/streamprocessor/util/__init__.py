"""Utilities: merging client errors, interrupt handling, the ``--help`` usage printer."""

from streamprocessor.util.errors import errors
from streamprocessor.util.interrupts import COORDINATOR, ShutdownCoordinator
from streamprocessor.util.usage import About, render_usage, usage

__all__ = ["COORDINATOR", "About", "ShutdownCoordinator", "errors", "render_usage", "usage"]
