"""Utilities: merging client errors, interrupt handling, the ``--help`` usage printer."""

from streamprocessor.util.barrier import BARRIER, AckBarrier
from streamprocessor.util.errors import errors
from streamprocessor.util.interrupts import COORDINATOR, ShutdownCoordinator
from streamprocessor.util.usage import About, render_usage, usage

__all__ = [
    "BARRIER",
    "COORDINATOR",
    "About",
    "AckBarrier",
    "ShutdownCoordinator",
    "errors",
    "render_usage",
    "usage",
]
