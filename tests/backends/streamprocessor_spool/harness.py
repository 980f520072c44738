"""The spool client's conformance harness: a fresh directory and topic per test."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from streamprocessor.clients import new_client
from streamprocessor.testing.conformance import Features, Harness
from streamprocessor_spool import options

_TOPICS = itertools.count()


class SpoolHarness(Harness):
    """Producers append to one topic log; consumers read it in one group."""

    def __init__(self, directory: Path) -> None:
        super().__init__(
            features=Features(
                fields=frozenset({"value", "key", "timestamp", "tags", "offset"}),
                nack="requeue",
                fatal_errors=False,
            ),
            timeout=5.0,
        )
        self.opts = (options.spool_dir(str(directory)), options.spool_topic(f"t{next(_TOPICS)}"))

    def new_producer(self, *opts: Any) -> Any:
        return new_client("producer", (*self.opts, *opts), "spool")

    def new_consumer(self, *opts: Any) -> Any:
        return new_client("consumer", (*self.opts, *opts), "spool")


def _dir(request: pytest.FixtureRequest) -> Harness:
    tmp: Path = request.getfixturevalue("tmp_path")
    return SpoolHarness(tmp)


HARNESSES: dict[str, Callable[[pytest.FixtureRequest], Harness]] = {"dir": _dir}
