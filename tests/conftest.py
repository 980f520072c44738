"""Shared test set-up: every test owns its environment."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from streamprocessor.util.interrupts import COORDINATOR

pytest_plugins = ["pytester"]  # (tests of the library's own pytest plugin)


@pytest.fixture(autouse=True)
def _clean_env(stream_env: pytest.MonkeyPatch) -> None:
    """Clear CONSUMER_*, PRODUCER_*, DRY_RUN and the legacy fallbacks for every test."""


@pytest.fixture(autouse=True)
def _reset_interrupts() -> None:
    """Forget an interrupt a previous test delivered."""
    COORDINATOR.reset()


@pytest.fixture(autouse=True)
def _keep_logging() -> Iterator[None]:
    """main() configures the root logger; put it back after each test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
