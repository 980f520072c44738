from datetime import UTC, datetime

import pytest

from streamprocessor import Message
from streamprocessor.stream import (
    OpaqueAlreadySet,
    message_opaque,
    set_message_opaque,
    test_message,
)


def test_defaults_are_empty():
    m = Message()
    assert (m.value, m.key, m.timestamp, m.tags, m.consumer_topic, m.producer_topic, m.offset) == (
        b"",
        None,
        None,
        {},
        "",
        "",
        None,
    )


def test_message_has_slots_and_no_dict():
    with pytest.raises(AttributeError):
        Message().unknown = 1  # type: ignore[attr-defined]


def test_opaque_can_only_be_set_once_and_keeps_the_first_value():
    m = Message()
    assert message_opaque(m) is None
    set_message_opaque(m, "first")
    with pytest.raises(OpaqueAlreadySet, match="only be set once"):
        set_message_opaque(m, "second")
    assert message_opaque(m) == "first"


def test_setting_none_opaque_is_repeatable():
    m = Message()
    set_message_opaque(m, None)
    set_message_opaque(m, None)
    set_message_opaque(m, 1)
    assert message_opaque(m) == 1


def test_copy_keeps_opaque_and_copies_tags():
    m = Message(value=b"v", tags={"a": b"1"})
    set_message_opaque(m, "op")
    c = m.copy()
    c.tags["b"] = b"2"
    assert m.tags == {"a": b"1"}
    assert message_opaque(c) == "op"
    assert c == Message(value=b"v", tags={"a": b"1", "b": b"2"})


def test_test_message_matches_the_original_defaults():
    m = test_message()
    assert m.key == b"testKey"
    assert m.value == b"testValue"
    assert m.timestamp == datetime.fromtimestamp(0, UTC)
    assert m.consumer_topic == "testConsumerTopic"
    assert m.producer_topic == "testProducerTopic"
    assert m.offset == 12
    assert m.tags == {"testTagKey1": b"testTagValue1", "testTagKey2": b"testTagValue2"}
    assert message_opaque(m) is None


def test_test_message_accepts_str_and_bytes():
    assert test_message("k", b"v").key == b"k"
    assert test_message(b"k", "v").value == b"v"


def test_test_message_is_not_collected_by_pytest():
    assert test_message.__test__ is False  # type: ignore[attr-defined]


def test_equality_compares_fields_not_opaque():
    a, b = Message(value=b"x", key=b"k"), Message(value=b"x", key=b"k")
    set_message_opaque(a, 1)
    assert a == b
    assert a != Message(value=b"y", key=b"k")


def test_consumer_mock_offers_what_the_test_puts_in_and_records_acks():
    from streamprocessor.stream import ConsumerMock

    m = Message(value=b"x")
    with ConsumerMock(messages=[m]) as c:
        it = iter(c)
        got = next(it)
        c.ack(got)
        c.nack(got)
        assert c.backlog() == 0
    assert list(it) == []
    assert c.acked == [m] and c.nacked == [m]
    c.close()  # idempotent, unlike the original


def test_producer_mock_records_sends_and_errors_end_on_close():
    from streamprocessor.stream import ProducerMock

    p = ProducerMock()
    p.send(Message(value=b"a"))
    p.errors_chan.put(RuntimeError("boom"))
    p.close()
    assert [m.value for m in p.sent] == [b"a"]
    assert [str(e) for e in p.errors()] == ["boom"]


def test_partition_is_a_keyword_after_offset_copied_compared_and_shown():
    m = Message(b"v", None, None, None, "in", "", 7, 3)
    assert (m.offset, m.partition) == (7, 3)
    assert Message().partition is None
    assert m.copy().partition == 3
    assert m == Message(value=b"v", consumer_topic="in", offset=7, partition=3)
    assert m != Message(value=b"v", consumer_topic="in", offset=7, partition=4)
    assert repr(m).endswith("offset=7, partition=3)")


def test_describe_and_dead_letters_name_the_partition():
    """Failures at offset 0 of two partitions are told apart, in logs and dead letters."""
    from streamprocessor.runner.handler import dead_letter, describe

    m = Message(value=b"v", consumer_topic="in", offset=0, partition=1)
    assert describe(m) == "message (topic 'in', partition 1, offset 0)"
    dl = dead_letter(m, ValueError("bad"), 1, "dlq")
    assert dl.tags["source.partition"] == b"1"
    assert dl.partition is None  # (producers ignore it anyway)
    assert "source.partition" not in dead_letter(Message(offset=0), ValueError(), 1, "").tags


def test_a_dead_letter_of_a_stdin_line_names_its_line_number():
    """The dead letter of line 3 says line 3, as the log line does (offset: its index)."""
    import io

    from streamprocessor import options
    from streamprocessor.clients import standardstream
    from streamprocessor.runner.handler import dead_letter, describe

    reader = io.BytesIO(b"a\nb\nc\n")
    with standardstream.new_consumer(options.standardstream_reader(reader),
                                     options.disable_environment_config()) as c:
        third = list(c)[2]
    assert describe(third) == "message (line 3)"
    dl = dead_letter(third, ValueError("bad"), 1, "")
    assert dl.tags["source.line"] == b"3" and dl.tags["source.offset"] == b"2"
    assert "source.line" not in dead_letter(Message(offset=2), ValueError(), 1, "").tags
