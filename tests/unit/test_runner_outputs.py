"""Handler outputs the producers cannot send are handler failures, under the error policy."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import timedelta

import pytest

from streamprocessor import InvalidMessageError, Message, options
from streamprocessor.clients import inmem, standardstream
from streamprocessor.runner import (
    HandlerFailedError,
    HandlerOutputError,
    Runner,
    RunnerSettings,
    to,
)
from streamprocessor.runner.handler import check_output
from streamprocessor.stores import InmemStore
from streamprocessor.testing.harness import run_handler

VALUES = [b"a", b"bad", b"c"]


def text_on_bad(m: Message) -> Message:
    """Forward the input, except ``bad``, whose value it returns as str (a common bug)."""
    assert m.value is not None
    return Message(value=m.value.decode()) if m.value == b"bad" else m  # type: ignore[arg-type]


def test_a_str_value_under_stop_fails_naming_the_field_its_type_and_the_fix() -> None:
    with pytest.raises(HandlerFailedError) as info:
        run_handler(lambda m: Message(value="text"), [b"a"])  # type: ignore[arg-type]
    assert isinstance(info.value.__cause__, HandlerOutputError)
    text = str(info.value)
    assert "value is a str" in text
    assert "make it bytes: value.encode()" in text


def test_a_str_value_under_stop_leaves_the_input_unacknowledged_and_sends_nothing() -> None:
    source, sink = InmemStore(), InmemStore()
    for v in VALUES:
        source.add(Message(value=v))
    base = (options.disable_environment_config(), options.manual_interrupt_handling())
    with (
        inmem.new_consumer(*base, options.inmem_store(source), options.inmem_listen()) as c,
        inmem.new_producer(*base, options.inmem_store(sink)) as p,
        pytest.raises(HandlerFailedError, match="HandlerOutputError"),
    ):
        Runner(c, {"producer": p}, text_on_bad).run()
    assert [m.value for m in sink.messages()] == [b"a"]
    # listen mode: acknowledged messages leave the store; bad and c are still there
    assert [m.value for m in source.messages()] == [b"bad", b"c"]


def test_a_str_key_is_refused_too() -> None:
    with pytest.raises(HandlerFailedError, match=r"key is a str.*key\.encode\(\)"):
        run_handler(lambda m: Message(value=m.value, key="k"), [b"a"])  # type: ignore[arg-type]


def test_skip_policy_skips_a_bad_output_and_acknowledges_it(
        caplog: pytest.LogCaptureFixture) -> None:
    result = run_handler(text_on_bad, VALUES, on_error="skip")
    assert result.values == [b"a", b"c"]
    assert result.unacknowledged == 0
    assert result.totals["skipped"] == 1
    assert any("Skipping message" in r.getMessage() and "value is a str" in r.getMessage()
               for r in caplog.records)


def test_dead_letter_policy_sends_the_input_with_the_output_error_in_its_tags() -> None:
    result = run_handler(text_on_bad, VALUES, on_error="dead-letter")
    assert result.values == [b"a", b"c"]
    [dl] = result.dead_letters
    assert dl.value == b"bad"
    assert dl.tags["error.type"] == b"streamprocessor.runner.handler.HandlerOutputError"
    assert b"value is a str" in dl.tags["error"]
    assert result.unacknowledged == 0


def test_retries_apply_to_a_bad_output() -> None:
    calls = []

    def bad(m: Message) -> Message:
        calls.append(1)
        return Message(value="x")  # type: ignore[arg-type]

    result = run_handler(bad, [b"a"], on_error="skip", retries=2, retry_backoff="0s")
    assert len(calls) == 3
    assert result.totals["errors"] == 3
    assert result.messages == []


def test_one_bad_message_among_several_sends_none_of_them() -> None:
    def many(m: Message) -> Iterator[Message]:
        yield m
        yield Message(value=m.value, key=1)  # type: ignore[arg-type]

    result = run_handler(many, [b"a"], on_error="skip")
    assert result.messages == []
    assert result.totals["skipped"] == 1


def test_a_bad_routed_message_names_its_producer() -> None:
    with pytest.raises(HandlerFailedError, match="for producer 'odd' whose value is an int"):
        run_handler(lambda m: to("odd", Message(value=1)),  # type: ignore[arg-type]
                    [b"a"], producers=["odd"])


def test_bad_outputs_follow_the_policy_with_several_workers() -> None:
    inputs = [Message(value=b"bad" if i % 10 == 0 else b"%d" % i, key=b"%d" % i)
              for i in range(100)]
    result = run_handler(text_on_bad, inputs, concurrency=4, on_error="dead-letter")
    assert len(result.messages) == 90
    assert len(result.dead_letters) == 10
    assert result.unacknowledged == 0


def test_tombstones_and_bytes_subclasses_are_sent() -> None:
    class Payload(bytes):
        pass

    def outputs(m: Message) -> list[Message]:
        return [Message(value=None, key=b"gone"), Message(value=Payload(b"p"))]

    result = run_handler(outputs, [b"a"])
    assert result.values == [None, b"p"]
    single = run_handler(lambda m: Message(value=Payload(b"q"), key=Payload(b"k")), [b"a"])
    assert single.values == [b"q"]


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("text", "value is a str: value must be bytes or None (make it bytes: value.encode())"),
        (bytearray(b"x"), "value is a bytearray: value must be bytes or None "
                          "(make it bytes: bytes(value))"),
        (7, "value is an int: value must be bytes or None (make it bytes: str(value).encode())"),
        ({"a": 1}, "value is a dict: value must be bytes or None "
                   "(make it bytes: serialize it, e.g. json.dumps(value).encode())"),
    ],
)
def test_check_output_says_what_is_wrong_and_how_to_fix_it(value: object, said: str) -> None:
    with pytest.raises(HandlerOutputError) as info:
        check_output(Message(value=value))  # type: ignore[arg-type]
    assert str(info.value) == f"the handler returned a Message whose {said}"


def test_check_output_returns_a_sendable_message() -> None:
    msg = Message(value=b"v", key=None)
    assert check_output(msg) is msg


BAD_FIELDS = [
    ({"timestamp": 1700000000}, "timestamp is an int: timestamp must be a datetime or None"),
    ({"producer_topic": 5}, "producer_topic is an int: producer_topic must be a str"),
    ({"tags": ["a"]}, "tags is a list: tags must be a dict of str to bytes"),
    ({"tags": {"n": 5}}, "tag 'n' is an int: tag values must be bytes"),
    ({"tags": {1: b"x"}}, "tag key 1 is an int: tag keys must be str"),
]


@pytest.mark.parametrize(("fields", "said"), BAD_FIELDS)
def test_other_fields_of_the_wrong_type_are_handler_failures(
    fields: dict[str, object], said: str
) -> None:
    """Checked before any output is sent, whatever the producers are."""
    with pytest.raises(HandlerFailedError) as info:
        run_handler(lambda m: [Message(value=m.value, **fields)], [b"a"])  # type: ignore[arg-type]
    assert isinstance(info.value.__cause__, HandlerOutputError)
    assert said in str(info.value)


@pytest.mark.parametrize(("fields", "said"), BAD_FIELDS[:3])
def test_a_single_output_with_a_field_of_the_wrong_type_follows_the_policy(
    fields: dict[str, object], said: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The same as a Kafka producer would refuse it, also where stdout would drop it."""
    result = run_handler(
        lambda m: Message(value=m.value, **fields) if m.value == b"bad" else m,  # type: ignore[arg-type]
        VALUES,
        on_error="skip",
    )
    assert result.values == [b"a", b"c"]
    assert result.totals["skipped"] == 1
    assert any(said in r.getMessage() for r in caplog.records)


def test_an_output_a_producer_refuses_is_a_handler_failure_and_nothing_is_sent() -> None:
    """Tag values are checked by the producer that sends them (Kafka): its refusal is the
    handler's failure, under the policy, not the end of the process."""
    source, sink = InmemStore(), InmemStore()
    for v in VALUES:
        source.add(Message(value=v))
    base = (options.disable_environment_config(), options.manual_interrupt_handling())

    def tagged(m: Message) -> Message:
        return Message(value=m.value, tags={"n": 5}) if m.value == b"bad" else m  # type: ignore[dict-item]

    with (
        inmem.new_consumer(*base, options.inmem_store(source)) as c,
        inmem.new_producer(*base, options.inmem_store(sink)) as p,
    ):
        send = p.send

        def refusing(msg: Message) -> None:
            if msg.tags:
                raise InvalidMessageError("cannot send a Message whose tag 'n' is an int")
            send(msg)

        p.send = refusing  # type: ignore[method-assign]
        runner = Runner(c, {"producer": p}, tagged, RunnerSettings(on_error="skip"))
        runner.run()
    assert [m.value for m in sink.messages()] == [b"a", b"c"]
    assert runner.totals()["skipped"] == 1


@pytest.mark.parametrize(("fields", "said"), BAD_FIELDS)
@pytest.mark.parametrize("policy", ["skip", "dead-letter", "retries"])
def test_on_stdout_too_a_single_bad_output_is_the_handlers_failure_under_the_policy(
    fields: dict[str, object], said: str, policy: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The stdout producer refuses what Kafka refuses (it writes only the value): the
    runner makes it the handler's failure, in its own words, and nothing of it is written."""
    calls: list[bytes] = []

    def handler(m: Message) -> Message:
        calls.append(m.value or b"")
        return Message(value=m.value, **fields) if m.value == b"bad" else m  # type: ignore[arg-type]

    out = io.BytesIO()
    dead: list[Message] = []
    settings = RunnerSettings(
        on_error="skip" if policy == "retries" else policy,  # type: ignore[arg-type]
        retries=2 if policy == "retries" else 0,
        retry_backoff=timedelta(0),
        handler_timeout=timedelta(0),
    )
    base = (options.disable_environment_config(), options.manual_interrupt_handling())
    with (
        standardstream.new_consumer(
            *base, options.standardstream_reader(io.BytesIO(b"a\nbad\nc\n"))
        ) as c,
        standardstream.new_producer(*base, options.standardstream_writer(out)) as p,
    ):
        runner = Runner(c, {"producer": p}, handler, settings, dead_letters=dead.append)
        runner.run()
    assert out.getvalue() == b"a\nc\n"
    assert calls.count(b"bad") == (3 if policy == "retries" else 1)
    if policy == "dead-letter":
        [dl] = dead
        assert dl.value == b"bad" and said in dl.tags["error"].decode()
        assert dl.tags["error.type"].endswith(b".HandlerOutputError")
    else:
        assert runner.totals()["skipped"] == 1
        assert any(said in r.getMessage() and "HandlerOutputError" in r.getMessage()
                   for r in caplog.records)
