"""A batch the broker refuses for good, on the real broker: only the message at fault is
refused (the others of its batch are sent again and arrive), with an error naming it, the
limit and the fix; the producer goes on."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from streamprocessor import options
from streamprocessor.clients import inmem, kafka
from streamprocessor.clients.kafka import testing as kt
from streamprocessor.runner import Runner, RunnerSettings
from streamprocessor.stores import InmemStore
from streamprocessor.stream.errors import ClientClosedError, DeliveryError, InvalidMessageError
from streamprocessor.stream.message import Message

if TYPE_CHECKING:
    from streamprocessor.util.barrier import RefusedSend

pytestmark = pytest.mark.kafka
TIMEOUT = 20.0
LIMIT = {"max.message.bytes": "1000"}  # the topic's; the producer's is 1000000
BIG = b"x" * 5000
#: one batch (a 300 ms delay gathers them): the big one among small ones
BATCH = [b"a", b"b", BIG, b"c", b"d"]
STAMP = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def new_producer(brokers: str, topic: str, *opts: Any) -> Any:
    return kafka.new_producer(
        *kt.producer_options(brokers, topic),
        options.kafka_compression_codec("none"),
        options.kafka_max_queue_buffer_duration(timedelta(milliseconds=300)),
        *opts,
    )


def values(brokers: str, topic: str) -> list[bytes | None]:
    return [m.value for m in kt.read_messages(brokers, topic)]


def test_only_the_message_at_fault_fails_and_the_error_names_it_the_limit_and_the_fix(
    kafka_brokers: str, kafka_topic: Callable[..., str]
) -> None:
    """Default handling: flush raises one DeliveryError for the big message; the small
    ones of its batch were sent again and arrived."""
    topic = kafka_topic(**LIMIT)
    p = new_producer(kafka_brokers, topic)
    for v in BATCH:
        p.send(Message(value=v, key=b"k"))
    with pytest.raises(DeliveryError) as caught:
        p.flush(TIMEOUT)
    text = str(caught.value)
    for said in (f"a message of {len(BIG) + 1} bytes", f"topic {topic!r}", "partition 0",
                 "key b'k'", "MSG_SIZE_TOO_LARGE", "max.message.bytes",
                 "message.max.bytes of 1000000",
                 "PRODUCER_KAFKA_LIBRDKAFKA_CONFIG=message.max.bytes=N"):
        assert said in text, said
    assert sorted(v for v in values(kafka_brokers, topic) if v) == [b"a", b"b", b"c", b"d"]
    assert p.closed  # (default handling: a failed delivery ends the producer)
    with pytest.raises(ClientClosedError):
        p.send(Message(value=b"after"))


def test_with_manual_handling_one_error_arrives_and_the_producer_goes_on(
    kafka_brokers: str, kafka_topic: Callable[..., str]
) -> None:
    """... and the small ones sent again keep their headers and timestamps."""
    topic = kafka_topic(**LIMIT)
    p = new_producer(kafka_brokers, topic, options.manual_error_handling())
    for i, v in enumerate(BATCH):
        p.send(Message(value=v, tags={"n": b"%d" % i}, timestamp=STAMP + timedelta(seconds=i)))
    p.flush(TIMEOUT)
    err = p.errors().get(TIMEOUT)
    assert isinstance(err, DeliveryError) and f"{len(BIG) + 2} bytes" in str(err)
    p.send(Message(value=b"e"))
    p.close()
    assert p.errors().get(1.0) is None  # (one error: the small ones were not refused)
    got = kt.read_messages(kafka_brokers, topic)
    assert [m.value for m in got] == [b"a", b"b", b"c", b"d", b"e"]
    assert [(m.tags, m.timestamp) for m in got[:4]] == [
        ({"n": b"%d" % i}, STAMP + timedelta(seconds=i)) for i in (0, 1, 3, 4)
    ]


def test_a_refused_send_goes_to_the_callback_and_holds_the_barrier_until_released(
    kafka_brokers: str, kafka_topic: Callable[..., str]
) -> None:
    """With a callback: no error, the producer goes on; the acks made after the refused
    send wait (the tracker stays below it) until the callback's owner releases it."""
    topic = kafka_topic(**LIMIT)
    p = new_producer(kafka_brokers, topic)
    refused: list[RefusedSend] = []
    p.on_refused(refused.append)
    for v in BATCH:
        p.send(Message(value=v, tags={"h": b"1"}))
    mark = p._tracker.mark()  # what an ack made now waits for
    p.flush(TIMEOUT)
    [r] = refused
    assert (r.message.value, r.message.producer_topic, r.message.tags) == (BIG, topic,
                                                                           {"h": b"1"})
    assert isinstance(r.error, InvalidMessageError) and "MSG_SIZE_TOO_LARGE" in str(r.error)
    assert r.tracker is p._tracker and r.tracker.confirmed < r.number < mark
    r.release()
    assert r.tracker.confirmed >= mark
    p.send(Message(value=b"e"))
    p.close()
    assert values(kafka_brokers, topic) == [b"a", b"b", b"c", b"d", b"e"]


def test_a_batch_over_the_topic_limit_of_small_messages_all_arrive(
    kafka_brokers: str, kafka_topic: Callable[..., str]
) -> None:
    """The broker checks the batch against max.message.bytes: 50 messages of 100 bytes
    are refused together, and each fits alone."""
    topic = kafka_topic(**LIMIT)
    p = new_producer(kafka_brokers, topic)
    sent = [b"%03d" % i + b"." * 97 for i in range(50)]
    for v in sent:
        p.send(Message(value=v))
    p.close()
    assert sorted(v for v in values(kafka_brokers, topic) if v) == sent


def test_in_a_large_refused_batch_only_the_message_at_fault_fails(
    kafka_brokers: str, kafka_topic: Callable[..., str]
) -> None:
    """2000 small messages around a big one (the batch is halved until it is alone)."""
    topic = kafka_topic(**LIMIT)
    p = new_producer(kafka_brokers, topic)
    refused: list[RefusedSend] = []
    p.on_refused(refused.append)
    sent = [b"%04d" % i for i in range(2000)]
    for i, v in enumerate(sent):
        p.send(Message(value=BIG if i == 1234 else v))
    p.flush(TIMEOUT)
    assert [r.message.value for r in refused] == [BIG]
    refused[0].release()
    p.close()
    assert sorted(v for v in values(kafka_brokers, topic) if v) == sent[:1234] + sent[1235:]


def test_a_keyless_message_on_a_compacted_topic_is_refused_alone(
    kafka_brokers: str, kafka_topic: Callable[..., str]
) -> None:
    topic = kafka_topic(**{"cleanup.policy": "compact"})
    p = new_producer(kafka_brokers, topic)
    refused: list[RefusedSend] = []
    p.on_refused(refused.append)
    for i, key in enumerate([b"a", b"b", None, b"c"]):
        p.send(Message(value=b"%d" % i, key=key))
    p.flush(TIMEOUT)
    [r] = refused
    assert (r.message.value, r.message.key) == (b"2", None)
    assert "INVALID_RECORD" in str(r.error) and "compacted" in str(r.error)
    r.release()
    p.close()
    assert sorted(v for v in values(kafka_brokers, topic) if v) == [b"0", b"1", b"3"]


def test_a_refusal_for_a_runner_whose_consumer_cannot_rewind_stops_the_run(
    kafka_brokers: str, kafka_topic: Callable[..., str]
) -> None:
    """In-memory input (as standard input) cannot be handed out again, so the input of the
    refused output cannot be found: the run ends with the refusal's error (exit 1), not
    as a success with the output lost."""
    topic = kafka_topic(**LIMIT)
    store = InmemStore()
    for v in BATCH:
        store.add(Message(value=v))
    base = (options.disable_environment_config(), options.manual_interrupt_handling())
    with inmem.new_consumer(*base, options.inmem_store(store)) as c:
        p = new_producer(kafka_brokers, topic)
        runner = Runner(c, {"producer": p}, lambda m: Message(value=m.value),
                        RunnerSettings(on_error="skip"))
        with pytest.raises(DeliveryError, match=r"the broker refused a message of 5000 bytes.*"
                           r"MSG_SIZE_TOO_LARGE.*cannot hand messages out again"):
            runner.run()
        p.close()
    assert sorted(v for v in values(kafka_brokers, topic) if v) == [b"a", b"b", b"c", b"d"]
