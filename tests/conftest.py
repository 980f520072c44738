"""Shared test set-up: every test owns its environment."""

from __future__ import annotations

import pytest

from streamprocessor.util.interrupts import COORDINATOR


@pytest.fixture(autouse=True)
def _clean_env(stream_env: pytest.MonkeyPatch) -> None:
    """Clear CONSUMER_*, PRODUCER_*, DRY_RUN and the legacy fallbacks for every test."""


@pytest.fixture(autouse=True)
def _reset_interrupts() -> None:
    """Forget an interrupt a previous test delivered."""
    COORDINATOR.reset()
