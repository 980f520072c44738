"""Handlers for ``streamprocessor run`` and the runner called from Python."""

from __future__ import annotations

from collections.abc import Iterator
from typing import assert_type

from streamprocessor import Message, options
from streamprocessor.runner import (
    Handler,
    HandlerFailedError,
    Routed,
    Runner,
    RunnerSettings,
    run,
    to,
)


def upper(msg: Message) -> Message:
    return Message(value=(msg.value or b"").upper(), key=msg.key, tags=msg.tags)


def drop_empty(msg: Message) -> Message | None:
    return msg if msg.value else None


def route(msg: Message) -> Message | Routed:
    return msg if msg.key else to("invalid", msg)


def fan_out(msg: Message) -> Iterator[Message | Routed]:
    yield msg
    yield to("audit", msg)


handlers: list[Handler] = [upper, drop_empty, route, fan_out]
assert_type(to("invalid", Message(value=b"x")), Routed)
settings = RunnerSettings(on_error="dead-letter", retries=2, producers=("invalid", "audit"))
assert_type(settings, RunnerSettings)
try:
    runner = run(upper, settings, options.name("proc"))
    assert_type(runner, Runner)
    assert_type(runner.totals(), dict[str, int])
except HandlerFailedError as exc:
    assert_type(exc.__cause__, BaseException | None)
