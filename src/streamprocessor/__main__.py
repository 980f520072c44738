"""``python -m streamprocessor``: the same as the ``streamprocessor`` command."""

from streamprocessor.cli import console

raise SystemExit(console())
