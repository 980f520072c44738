"""Handlers the runner cannot call with one message are refused before anything runs."""

from __future__ import annotations

import functools
import inspect
import warnings
from pathlib import Path
from typing import Any

import pytest

from streamprocessor import Message
from streamprocessor.cli import EXIT_USAGE, main
from streamprocessor.runner import load_handler, run
from streamprocessor.runner.handler import HandlerOutputError, check_handler, outputs
from streamprocessor.stream import ConfigError

HANDLERS = '''
import functools

async def coro(msg):
    return msg

async def agen(msg):
    yield msg

def two(msg, other):
    return msg

def none():
    return None

class AsyncCall:
    async def __call__(self, msg):
        return msg

acall = AsyncCall()

def keyword_only(msg, *, extra=1):
    return msg

partial = functools.partial(two, other=1)
'''


@pytest.fixture
def module(tmp_path: Path) -> str:
    path = tmp_path / "handlers_for_checks.py"
    path.write_text(HANDLERS)
    return str(path)


@pytest.mark.parametrize("name", ["coro", "agen", "acall"])
def test_an_async_handler_is_refused_at_load(module: str, name: str) -> None:
    with pytest.raises(ConfigError, match="async handlers are not supported yet") as info:
        load_handler(f"{module}:{name}")
    assert "a plain function taking one Message" in str(info.value)


@pytest.mark.parametrize("name", ["two", "none"])
def test_a_handler_that_cannot_take_one_message_is_refused_at_load(module: str,
                                                                   name: str) -> None:
    with pytest.raises(ConfigError, match="cannot be called with one message"):
        load_handler(f"{module}:{name}")


@pytest.mark.parametrize("name", ["keyword_only", "partial"])
def test_handlers_that_take_one_message_load(module: str, name: str) -> None:
    assert callable(load_handler(f"{module}:{name}"))


class _NoSignature:
    __signature__ = "none to be had"  # inspect.signature raises (TypeError; 3.12+: ValueError)

    def __call__(self, msg: Message) -> Message:
        return msg


def test_a_callable_without_a_signature_is_accepted() -> None:
    handler = _NoSignature()
    with pytest.raises((TypeError, ValueError)):
        inspect.signature(handler)
    assert check_handler(handler) is handler
    assert check_handler(iter) is iter  # a builtin without one (3.13 gave map one)


def test_the_command_exits_2_for_an_async_handler(module: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", f"{module}:coro"]) == EXIT_USAGE
    assert "async handlers are not supported yet" in capsys.readouterr().err


def test_run_in_code_refuses_an_async_handler_before_opening_clients() -> None:
    async def handle(msg: Message) -> Message:
        return msg

    # no client type is set: opening a client would raise UnknownClientError instead
    with pytest.raises(ConfigError, match="async handlers are not supported yet"):
        run(handle)
    with pytest.raises(ConfigError, match="cannot be called with one message"):
        run(functools.partial(lambda a, b: a))


def test_a_returned_coroutine_is_a_handler_failure_without_a_warning() -> None:
    async def later(msg: Any) -> Any:
        return msg

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "coroutine ... was never awaited" would raise
        with pytest.raises(HandlerOutputError, match="async handlers are not supported"):
            outputs(later(Message(value=b"x")))
