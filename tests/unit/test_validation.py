"""The one check of outgoing messages: problem(), refusal() and the names a producer remembers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from streamprocessor import InvalidMessageError, Message
from streamprocessor.clients.kafka._properties import topic_problem
from streamprocessor.clients.validation import SentNames, problem, refusal
from streamprocessor.testing.conformance import UNSENDABLE

FIXES = {
    "value": "value must be bytes or None (make it bytes: value.encode())",
    "key": "key must be bytes or None (make it bytes: str(key).encode())",
    "timestamp": "timestamp must be a datetime or None (e.g. datetime.fromtimestamp(",
    "tags": "tags must be a dict of str to bytes",
    "tag key": "tag keys must be str",
    "tag 'n'": "tag values must be bytes (e.g. str(value).encode())",
    "tag key 'a\\x00b'": "names must be text without NUL",
    "producer_topic": "producer_topic must be a str ('' sends to the producer's own topic)",
    "producer_topic 't\\udcff'": "decode names with errors='replace', or keep them ASCII",
}


@pytest.mark.parametrize(("field", "fields"), UNSENDABLE, ids=[f for f, _ in UNSENDABLE])
def test_each_bad_field_is_named_with_its_type_rule_and_fix(field: str, fields: Any) -> None:
    msg = Message(**{"value": b"v", **fields})
    said = problem(msg)
    assert said is not None
    assert said.startswith(f"a Message whose {field}")
    assert FIXES[field] in said
    error = refusal(msg)
    assert isinstance(error, InvalidMessageError)
    assert str(error) == f"cannot send {said}"


def test_a_sendable_message_has_no_problem() -> None:
    msg = Message(value=b"v", key=b"k", timestamp=datetime.now(UTC), tags={"a": b"1", "s": "x"},
                  producer_topic="out")
    assert problem(msg) is None
    assert problem(Message(value=None)) is None


@pytest.mark.parametrize("thing", [b"raw", "text", {"value": b"v"}, None])
def test_what_is_not_a_message_is_named_with_the_fix(thing: object) -> None:
    said = problem(thing)
    assert said is not None
    assert said.startswith(f"a{'n' if type(thing).__name__[0] in 'aeiou' else ''} "
                           f"{type(thing).__name__}: send a streamprocessor.Message")


def test_a_backend_rule_for_topic_names_plugs_in() -> None:
    msg = Message(value=b"v", producer_topic="no such/topic")
    assert problem(msg) is None
    said = problem(msg, topic_problem)
    assert said is not None
    assert said.startswith("a Message whose producer_topic 'no such/topic' is not a valid Kafka")


def test_sent_names_checks_each_name_once_and_still_refuses_a_bad_field() -> None:
    seen: list[str] = []

    def rule(topic: str) -> str | None:
        seen.append(topic)
        return None

    names = SentNames(rule)
    for _ in range(3):
        names.check(Message(value=b"v", producer_topic="out", tags={"a": b"1"}))
    assert seen == ["out"]
    with pytest.raises(InvalidMessageError, match="timestamp is an int"):
        names.check(Message(value=b"v", producer_topic="out", timestamp=5))  # type: ignore[arg-type]
    with pytest.raises(InvalidMessageError, match=r"a bytes: send a streamprocessor\.Message"):
        names.check(b"v")


@pytest.mark.parametrize("backend", ["inmem", "standardstream"])
def test_a_bad_tag_value_under_a_name_seen_before_is_refused(backend: str) -> None:
    """Names are remembered, values are not (Kafka's producer leaves them to librdkafka)."""
    import io

    from streamprocessor import options
    from streamprocessor.clients import inmem, standardstream
    from streamprocessor.stores import InmemStore

    store, out = InmemStore(), io.BytesIO()
    base = (options.disable_environment_config(), options.manual_interrupt_handling())
    p = (inmem.new_producer(*base, options.inmem_store(store)) if backend == "inmem"
         else standardstream.new_producer(*base, options.standardstream_writer(out)))
    with p:
        p.send(Message(value=b"a", tags={"n": b"1"}))
        with pytest.raises(InvalidMessageError, match="tag 'n' is an int"):
            p.send(Message(value=b"b", tags={"n": 5}))  # type: ignore[dict-item]
        p.send(Message(value=b"c", tags={"n": "text"}))
    assert [m.value for m in store.messages()] == ([b"a", b"c"] if backend == "inmem" else [])
    assert out.getvalue() == (b"a\nc\n" if backend == "standardstream" else b"")
