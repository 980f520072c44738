"""Small helpers the other modules share: the one host, output tails, private files."""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import Final

_HOST: Final = "127.0.0.1"
"""Every listener (and the broker certificate's subjectAltName) is on this address only."""


def _tail(text: str, lines: int = 40) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)  # Maven colours some output even with -B
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _read_tail(path: Path, lines: int = 40) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            data = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return f"(no {path.name})"
    return _tail(data, lines) or f"({path.name} is empty)"


def _write_private(path: Path, text: str) -> None:
    """Write *text* to *path* atomically, readable and writable by the owner only (0600).

    The file is created with that mode (``os.open``), never widened and narrowed later, so
    no other user can open it in between; it replaces *path* in one rename.
    """
    tmp = path.with_name(path.name + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()  # O_EXCL below: a leftover could carry a wider mode
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    tmp.replace(path)
