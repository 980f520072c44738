"""The examples in examples/ do what their docstrings say (in memory)."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamprocessor import Message
from streamprocessor.runner import HandlerFailedError, load_handler
from streamprocessor.testing.harness import run_handler

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_uppercase() -> None:
    handle = load_handler(f"{EXAMPLES / 'uppercase.py'}:handle")
    result = run_handler(handle, [Message(value=b"hello", key=b"k"), Message(value=None)])
    assert result.values == [b"HELLO", None]
    assert result.messages[0].key == b"k"


def test_filter_drops_empty_messages_and_comments() -> None:
    handle = load_handler(f"{EXAMPLES / 'filter.py'}:handle")
    assert run_handler(handle, [b"a", b"# c", b"", b"  ", b"b"]).values == [b"a", b"b"]


def test_router_sends_invalid_messages_to_the_invalid_producer() -> None:
    route = load_handler(f"{EXAMPLES / 'router.py'}:route")
    result = run_handler(route, [b'{"id": 1}', b"nope", b"[1]"], producers=["invalid"])
    assert result.values == [b'{"id": 1}']
    assert [m.value for m in result["invalid"]] == [b"nope", b"[1]"]
    assert result["invalid"][0].tags["reason"] == b"not a JSON object"


def test_flaky_under_each_policy() -> None:
    handle = load_handler(f"{EXAMPLES / 'flaky.py'}:handle")
    inputs = [b"ok", b"fail", b"ok2"]
    with pytest.raises(HandlerFailedError):
        run_handler(handle, inputs)
    assert run_handler(handle, inputs, on_error="skip").values == [b"ok", b"ok2"]
    dl = run_handler(handle, inputs, on_error="dead-letter").dead_letters
    assert [m.value for m in dl] == [b"fail"]
