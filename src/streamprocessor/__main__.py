"""``python -m streamprocessor``: the same as the ``streamprocessor`` command."""

from streamprocessor.cli import main

raise SystemExit(main())
