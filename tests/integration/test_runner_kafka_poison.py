"""Poison outputs on the real broker: what the producer refuses in ``produce`` (over
``message.max.bytes``, an invalid topic name) is the handler's failure under the error
policy, never a fatal client error; nothing crash-loops."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from confluent_kafka import Producer

from streamprocessor import options
from streamprocessor.clients import kafka
from streamprocessor.clients.kafka import testing as kt
from streamprocessor.runner import HandlerFailedError, Runner, RunnerSettings
from streamprocessor.stream.errors import InvalidMessageError
from streamprocessor.stream.message import Message

pytestmark = pytest.mark.kafka
TIMEOUT = 60.0
#: partition 1 of the input: the 2nd output is too large, the 3rd goes to an invalid topic
POISON = {b"big": "MSG_SIZE_TOO_LARGE", b"bad-topic": "not a valid Kafka topic name"}


def fill(brokers: str, topic: str, values: dict[int, list[bytes]]) -> None:
    p = Producer({"bootstrap.servers": brokers})
    for part, vs in values.items():
        for v in vs:
            p.produce(topic, v, partition=part)
    assert p.flush(30) == 0


def copy_or_poison(m: Message) -> Message:
    if m.value == b"big":
        return Message(value=b"x" * 2_000_000)
    if m.value == b"bad-topic":
        return Message(value=m.value, producer_topic="no such/topic")
    return Message(value=m.value)


class Processor:
    """A runner over the input topic, in a thread, as ``streamprocessor run`` does."""

    def __init__(
        self, brokers: str, src: str, group: str, producers: dict[str, str],
        handler: Callable[[Message], Any], **settings: Any,
    ) -> None:
        self.consumer = kafka.new_consumer(
            *kt.consumer_options(brokers, src, group), options.manual_interrupt_handling()
        )
        self.producers = {
            name: kafka.new_producer(*kt.producer_options(brokers, topic),
                                     options.manual_interrupt_handling())
            for name, topic in producers.items()
        }
        settings = {"handler_timeout": None, "retry_backoff": timedelta(0), **settings}
        self.runner = Runner(self.consumer, self.producers, handler, RunnerSettings(**settings))
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="test-poison-runner")
        self.thread.start()

    def _run(self) -> None:
        try:
            self.runner.run()
        except BaseException as exc:  # checked by the test
            self.error = exc

    def stop(self) -> BaseException | None:
        self.consumer.interrupt()  # as SIGTERM does
        self.thread.join(TIMEOUT)
        assert not self.thread.is_alive()
        for client in (self.consumer, *self.producers.values()):
            client.close()
        return self.error


def wait_committed(brokers: str, group: str, topic: str, want: dict[int, int]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while (got := kt.committed_offsets(brokers, group, topic)) != want:
        assert time.monotonic() < deadline, got
        time.sleep(0.2)


def restart_sees(
    brokers: str, src: str, dst: str, group: str, want: dict[int, int]
) -> list[bytes | None]:
    """Add an input ``e`` and restart (skip): what the restarted processor handles."""
    fill(brokers, src, {1: [b"e"]})
    seen: list[bytes | None] = []
    again = Processor(brokers, src, group, {"producer": dst},
                      lambda m: seen.append(m.value) or Message(value=m.value), on_error="skip")
    wait_committed(brokers, group, src, want)
    assert again.stop() is None
    return seen


def fixed_handler_sees(
    brokers: str, src: str, dst: str, group: str, want: dict[int, int]
) -> list[bytes | None]:
    """Restart with a handler that answers every input with a small output: what it saw."""
    seen: list[bytes | None] = []
    fixed = Processor(brokers, src, group, {"producer": dst},
                      lambda m: seen.append(m.value) or Message(value=b"ok"))
    wait_committed(brokers, group, src, want)
    assert fixed.stop() is None
    return seen


INPUT = {0: [b"a", b"b"], 1: [b"c", b"big", b"bad-topic", b"d"]}


@pytest.fixture
def topics(kafka_brokers: str, kafka_topic: Callable[..., str]) -> tuple[str, str, str]:
    src = kafka_topic(partitions=2)
    fill(kafka_brokers, src, INPUT)
    return src, kafka_topic(), kafka_topic()


def poison_lines(
    caplog: pytest.LogCaptureFixture, src: str, at: str = "partition 1, offset"
) -> list[str]:
    return [r.getMessage() for r in caplog.records if f"topic '{src}', {at}" in r.getMessage()]


def test_poison_outputs_are_skipped_and_a_restart_goes_on_past_them(
    kafka_brokers: str, topics: tuple[str, str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """skip: each poison output gives one warning naming the message and the limit; the
    rest is copied and committed; a restart sees only new input (no crash loop)."""
    src, dst, _ = topics
    group = kt.random_name("poison")
    caplog.set_level(logging.INFO)
    proc = Processor(kafka_brokers, src, group, {"producer": dst}, copy_or_poison,
                     on_error="skip")
    wait_committed(kafka_brokers, group, src, {0: 2, 1: 4})  # (after the deliveries)
    assert proc.stop() is None
    assert sorted(m.value for m in kt.read_messages(kafka_brokers, dst)) == [b"a", b"b", b"c",
                                                                             b"d"]
    lines = poison_lines(caplog, src)
    assert len(lines) == 2, lines
    big, bad = lines
    assert big.startswith(f"Skipping message (topic '{src}', partition 1, offset 1)")
    for said in ("InvalidMessageError", "2000000 bytes", "MSG_SIZE_TOO_LARGE",
                 "message.max.bytes of 1000000",
                 "PRODUCER_KAFKA_LIBRDKAFKA_CONFIG=message.max.bytes=N"):
        assert said in big, said
    assert bad.startswith(f"Skipping message (topic '{src}', partition 1, offset 2)")
    assert "'no such/topic' is not a valid Kafka topic name" in bad

    assert restart_sees(kafka_brokers, src, dst, group, {0: 2, 1: 5}) == [b"e"]


def test_poison_outputs_dead_letter_the_input(
    kafka_brokers: str, topics: tuple[str, str, str]
) -> None:
    """dead-letter: the dead letter is the input (not the oversized output), with where
    it came from: topic, partition and offset."""
    src, dst, dlq = topics
    group = kt.random_name("poison")
    proc = Processor(kafka_brokers, src, group, {"producer": dst, "dead_letter": dlq},
                     copy_or_poison, on_error="dead-letter")
    wait_committed(kafka_brokers, group, src, {0: 2, 1: 4})
    assert proc.stop() is None
    dead = kt.read_messages(kafka_brokers, dlq)
    assert sorted(m.value for m in kt.read_messages(kafka_brokers, dst)) == [b"a", b"b", b"c",
                                                                             b"d"]
    assert [m.value for m in dead] == [b"big", b"bad-topic"]
    for m, offset in zip(dead, (b"1", b"2"), strict=True):
        assert m.tags["source.topic"] == src.encode()
        assert (m.tags["source.partition"], m.tags["source.offset"]) == (b"1", offset)
        assert m.tags["error.type"] == b"streamprocessor.stream.errors.InvalidMessageError"
    assert b"MSG_SIZE_TOO_LARGE" in dead[0].tags["error"]
    assert b"not a valid Kafka topic name" in dead[1].tags["error"]


def test_poison_outputs_are_retried(kafka_brokers: str, topics: tuple[str, str, str]) -> None:
    """--retries 2: the handler is called three times for each poison message."""
    src, dst, _ = topics
    group = kt.random_name("poison")
    calls: list[bytes | None] = []

    def counting(m: Message) -> Message:
        calls.append(m.value)
        return copy_or_poison(m)

    proc = Processor(kafka_brokers, src, group, {"producer": dst}, counting,
                     on_error="skip", retries=2)
    wait_committed(kafka_brokers, group, src, {0: 2, 1: 4})
    assert proc.stop() is None
    assert (calls.count(b"big"), calls.count(b"bad-topic"), calls.count(b"d")) == (3, 3, 1)
    assert proc.runner.totals()["errors"] == 6


# -- outputs the broker refuses in its delivery report ------------------------------------

#: the output of b"huge" fits the producer's message.max.bytes (1 MB) but not the output
#: topic's max.message.bytes: the broker refuses the batch it is in (random: incompressible)
HUGE = random.Random(13).randbytes(5000)
REFUSED_INPUT = {0: [b"a", b"b"], 1: [b"c", b"huge", b"d"]}
HUGE_INPUT = "partition 1, offset 1"


def copy_or_huge(m: Message) -> Message:
    return Message(value=HUGE if m.value == b"huge" else m.value)


@pytest.fixture
def refusing(kafka_brokers: str, kafka_topic: Callable[..., str]) -> tuple[str, str, str]:
    """Input, an output topic that takes at most 1000 bytes per batch, a dead-letter topic."""
    src = kafka_topic(partitions=2)
    fill(kafka_brokers, src, REFUSED_INPUT)
    return src, kafka_topic(**{"max.message.bytes": "1000"}), kafka_topic()


@pytest.mark.parametrize("concurrency", [1, 3])
def test_an_output_refused_in_the_delivery_report_is_skipped_and_the_rest_arrives(
    kafka_brokers: str, refusing: tuple[str, str, str], caplog: pytest.LogCaptureFixture,
    concurrency: int,
) -> None:
    """skip: the input of the refused output is skipped with one warning naming it and
    the limit; every other input's output arrives (some twice: they are handled again);
    the committed position passes the input; a restart sees only new input."""
    src, dst, _ = refusing
    group = kt.random_name("refused")
    caplog.set_level(logging.INFO)
    proc = Processor(kafka_brokers, src, group, {"producer": dst}, copy_or_huge,
                     on_error="skip", concurrency=concurrency)
    wait_committed(kafka_brokers, group, src, {0: 2, 1: 3})
    assert proc.stop() is None
    out = [m.value for m in kt.read_messages(kafka_brokers, dst)]
    assert set(out) == {b"a", b"b", b"c", b"d"}, out
    assert out.index(b"c") < len(out) - 1 - out[::-1].index(b"d")  # (c's last before d's)
    [line] = poison_lines(caplog, src, HUGE_INPUT + ")")
    assert line.startswith(f"Skipping message (topic '{src}', {HUGE_INPUT})")
    for said in ("InvalidMessageError", "MSG_SIZE_TOO_LARGE", "5000 bytes",
                 "max.message.bytes", "message.max.bytes of 1000000"):
        assert said in line, said

    assert restart_sees(kafka_brokers, src, dst, group, {0: 2, 1: 4}) == [b"e"]


@pytest.mark.parametrize("concurrency", [1, 3])
def test_an_output_refused_in_the_delivery_report_dead_letters_its_input(
    kafka_brokers: str, refusing: tuple[str, str, str], concurrency: int
) -> None:
    src, dst, dlq = refusing
    group = kt.random_name("refused")
    proc = Processor(kafka_brokers, src, group, {"producer": dst, "dead_letter": dlq},
                     copy_or_huge, on_error="dead-letter", concurrency=concurrency)
    wait_committed(kafka_brokers, group, src, {0: 2, 1: 3})
    assert proc.stop() is None
    [dead] = kt.read_messages(kafka_brokers, dlq)
    assert dead.value == b"huge"
    assert (dead.tags["source.partition"], dead.tags["source.offset"]) == (b"1", b"1")
    assert dead.tags["error.type"] == b"streamprocessor.stream.errors.InvalidMessageError"
    assert b"MSG_SIZE_TOO_LARGE" in dead.tags["error"]
    assert {m.value for m in kt.read_messages(kafka_brokers, dst)} == {b"a", b"b", b"c", b"d"}


def test_an_output_refused_in_the_delivery_report_is_retried(
    kafka_brokers: str, refusing: tuple[str, str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """--retries 2: three attempts are logged for the input, then it is skipped."""
    src, dst, _ = refusing
    group = kt.random_name("refused")
    caplog.set_level(logging.INFO)
    proc = Processor(kafka_brokers, src, group, {"producer": dst}, copy_or_huge,
                     on_error="skip", retries=2)
    wait_committed(kafka_brokers, group, src, {0: 2, 1: 3})
    assert proc.stop() is None
    lines = poison_lines(caplog, src, HUGE_INPUT + ")")
    assert [line.split(" (attempt ")[1][:6] for line in lines[:2]] == ["1 of 3", "2 of 3"]
    assert lines[2].startswith(f"Skipping message (topic '{src}', {HUGE_INPUT}) after 3 ")
    assert len(lines) == 3, lines


#: the poison at partition 1, offset 1: refused in ``send``, or by the broker at delivery
STOP_CASES = [
    pytest.param("topics", copy_or_poison, {0: 2, 1: 4}, [b"big", b"bad-topic"],
                 id="refused-in-send"),
    pytest.param("refusing", copy_or_huge, {0: 2, 1: 3}, [b"huge"], id="refused-at-delivery"),
]


@pytest.mark.parametrize(("setup", "handler", "everything", "poison"), STOP_CASES)
def test_a_poison_output_under_stop_is_a_handler_failure_and_stays_uncommitted(
    kafka_brokers: str, request: pytest.FixtureRequest, setup: str,
    handler: Callable[[Message], Message], everything: dict[int, int], poison: list[bytes],
) -> None:
    """stop: HandlerFailedError (exit 1 in the CLI), not a fatal client error; the input is
    not committed, the clients are still usable, and a fixed handler goes on from it."""
    src, dst, _ = request.getfixturevalue(setup)
    group = kt.random_name("poison")
    proc = Processor(kafka_brokers, src, group, {"producer": dst}, handler)
    proc.thread.join(TIMEOUT)
    error = proc.stop()
    assert isinstance(error, HandlerFailedError), error
    assert isinstance(error.error, InvalidMessageError)
    assert "partition 1, offset 1" in str(error) and "MSG_SIZE_TOO_LARGE" in str(error)
    assert kt.committed_offsets(kafka_brokers, group, src).get(1, -1) <= 1

    seen = fixed_handler_sees(kafka_brokers, src, dst, group, everything)
    assert set(poison) <= set(seen)
