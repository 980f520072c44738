"""Outputs a producer refuses when they are sent go through the error policy on every path."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from streamprocessor import Message, options
from streamprocessor.clients import inmem
from streamprocessor.runner import HandlerFailedError, Runner, RunnerSettings
from streamprocessor.stores import InmemStore
from streamprocessor.stream import InvalidMessageError
from streamprocessor.testing.harness import run_handler

#: a producer topic every producer refuses (a lone surrogate: it crashes librdkafka)
BAD_TOPIC = "out\udcff"
INPUTS = [Message(value=v, consumer_topic="in", offset=i)
          for i, v in enumerate([b"a", b"poison", b"c"])]


def one(m: Message) -> Message:
    """The fast path of the runner: one message for the default producer."""
    return Message(value=m.value, producer_topic=BAD_TOPIC if m.value == b"poison" else "")


def pair(m: Message) -> list[Message]:
    """The general path: several outputs, the refused one last."""
    return [Message(value=b"first"), one(m)]


HANDLERS = [pytest.param(one, id="one-output"), pytest.param(pair, id="several-outputs")]
WORKERS = [pytest.param(1, id="serial"), pytest.param(3, id="3-workers")]


def _poison_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "offset 1" in r.getMessage()]


@pytest.mark.parametrize("concurrency", WORKERS)
@pytest.mark.parametrize("handler", HANDLERS)
def test_a_refused_output_is_skipped_with_one_log_line_naming_message_and_cause(
    handler: Callable[[Message], Any], concurrency: int, caplog: pytest.LogCaptureFixture
) -> None:
    """Under skip the input is acknowledged, the rest goes on, one warning says why."""
    caplog.set_level(logging.INFO)
    result = run_handler(handler, INPUTS, on_error="skip", concurrency=concurrency)
    assert result.unacknowledged == 0
    assert result.totals["skipped"] == 1
    assert b"c" in result.values and b"poison" not in result.values
    [line] = _poison_lines(caplog)
    assert "Skipping message (topic 'in', offset 1)" in line
    assert "InvalidMessageError" in line and "lone surrogate" in line


@pytest.mark.parametrize("concurrency", WORKERS)
@pytest.mark.parametrize("handler", HANDLERS)
def test_a_refused_output_dead_letters_the_input(
    handler: Callable[[Message], Any], concurrency: int
) -> None:
    """The dead letter holds the input, and says where it came from."""
    result = run_handler(handler, INPUTS, on_error="dead-letter", concurrency=concurrency)
    [dl] = result.dead_letters
    assert dl.value == b"poison"
    assert dl.tags["error.type"] == b"streamprocessor.stream.errors.InvalidMessageError"
    assert b"lone surrogate" in dl.tags["error"]
    assert (dl.tags["source.topic"], dl.tags["source.offset"]) == (b"in", b"1")
    assert result.unacknowledged == 0


@pytest.mark.parametrize("concurrency", WORKERS)
@pytest.mark.parametrize("handler", HANDLERS)
def test_a_refused_output_is_retried(handler: Callable[[Message], Any], concurrency: int) -> None:
    """The handler is called again; a retry that produces a sendable output succeeds."""
    calls: list[bytes | None] = []

    def flaky(m: Message) -> Any:
        calls.append(m.value)
        if m.value == b"poison" and calls.count(b"poison") == 3:
            return Message(value=b"fixed")
        return handler(m)

    result = run_handler(flaky, INPUTS, on_error="stop", retries=2, retry_backoff="0s",
                         concurrency=concurrency)
    assert calls.count(b"poison") == 3
    assert b"fixed" in result.values
    assert result.totals["errors"] == 2
    assert result.unacknowledged == 0


@pytest.mark.parametrize("concurrency", WORKERS)
@pytest.mark.parametrize("handler", HANDLERS)
def test_a_refused_output_under_stop_is_a_handler_failure(
    handler: Callable[[Message], Any], concurrency: int
) -> None:
    """stop: HandlerFailedError naming the input; the poison input is not acknowledged."""
    with pytest.raises(HandlerFailedError, match=r"offset 1.*lone surrogate") as info:
        run_handler(handler, INPUTS, concurrency=concurrency)
    assert isinstance(info.value.error, InvalidMessageError)
    assert info.value.message.offset == 1


@pytest.mark.parametrize("concurrency", WORKERS)
def test_pipe_stops_at_a_message_its_producer_refuses(concurrency: int) -> None:
    """No handler, no policy: forwarding stops with the message named, it stays unacked."""
    store, out = InmemStore(), InmemStore()
    for m in INPUTS:
        store.add(Message(value=m.value, offset=m.offset,
                          tags={"bad\0name": b""} if m.value == b"poison" else None))
    base = (options.disable_environment_config(), options.manual_interrupt_handling())
    with (
        inmem.new_consumer(*base, options.inmem_store(store)) as c,
        inmem.new_producer(*base, options.inmem_store(out)) as p,
    ):
        runner = Runner(c, {"producer": p}, None, RunnerSettings(concurrency=concurrency))
        with pytest.raises(InvalidMessageError, match=r"cannot forward message \(offset 1\).*NUL"
                           r".*not acknowledged"):
            runner.run()
    copied = [m.value for m in out.messages()]
    assert b"poison" not in copied  # (workers in parallel may or may not have copied a, c)
    assert concurrency > 1 or copied == [b"a"]
    assert b"poison" in [m.value for m in store.messages()]


@pytest.mark.parametrize(
    ("tags", "topic", "said"),
    [
        ({"a\0b": b"1"}, "", "tag key 'a\\x00b' holds a NUL"),
        ({"a\udcff": b"1"}, "", "lone surrogate"),
        ({"a": "v\udcff"}, "", "tag 'a' is a str with a lone surrogate"),
        ({}, "t\0", "producer_topic 't\\x00' holds a NUL"),
        ({}, "t\udcff", "producer_topic 't\\udcff' is not valid Unicode"),
    ],
)
def test_the_inmem_producer_refuses_names_no_producer_can_send(
    tags: dict[str, Any], topic: str, said: str
) -> None:
    """As Kafka does (where they crash librdkafka): InvalidMessageError, nothing stored."""
    store = InmemStore()
    base = (options.disable_environment_config(), options.manual_interrupt_handling())
    with inmem.new_producer(*base, options.inmem_store(store)) as p:
        with pytest.raises(InvalidMessageError, match=said.replace("\\", "\\\\")):
            p.send(Message(value=b"x", tags=tags, producer_topic=topic))
        p.send(Message(value=b"fine", tags={"a": b"1"}, producer_topic="t"))
        p.send(Message(value=b"again", tags={"a": b"1"}, producer_topic="t"))
    assert [m.value for m in store.messages()] == [b"fine", b"again"]


def test_the_dry_run_dead_letter_line_names_the_reason_and_the_source() -> None:
    """Text and JSON forms of a dead letter from Kafka: topic, partition, offset."""
    import io
    import json

    from streamprocessor.runner._deadletters import DeadLetterWriter
    from streamprocessor.runner.handler import dead_letter

    msg = Message(value=b"v", consumer_topic="in", offset=7, partition=1)
    dl = dead_letter(msg, ValueError("bad input"), 3, "")
    text, doc = io.StringIO(), io.StringIO()
    DeadLetterWriter(False, text).send(dl)
    DeadLetterWriter(True, doc).send(dl)
    assert text.getvalue() == ("dead letter: ValueError: bad input (topic 'in', partition 1, "
                               "offset 7, attempts 3)\n")
    assert json.loads(doc.getvalue()) == {
        "message": "dead letter: ValueError: bad input", "error": "bad input",
        "error.type": "ValueError", "error.attempts": "3", "source.topic": "in",
        "source.partition": "1", "source.offset": "7"}
