"""Utilities: merging client errors, interrupt handling, the ``--help`` usage printer.

``About``, ``usage`` and ``render_usage`` live next to the command line
(:mod:`streamprocessor.cli.usage`) and are imported from there when first used.
"""

from typing import TYPE_CHECKING, Any

from streamprocessor.util.barrier import BARRIER, AckBarrier
from streamprocessor.util.errors import errors
from streamprocessor.util.interrupts import COORDINATOR, ShutdownCoordinator

if TYPE_CHECKING:
    from streamprocessor.cli.usage import About, render_usage, usage

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

_USAGE = ("About", "render_usage", "usage")


def __getattr__(name: str) -> Any:
    if name in _USAGE:
        import streamprocessor.cli.usage as module

        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
