"""Scenario 6: the bad-input catalogue (docs/RELIABILITY.md keeps it as a table).

Every case runs the real command (or, for a closed client, the library) and checks three
things: the exit status, an error text that names the cause *and* the fix, and that
nothing before the bad input was lost: on Kafka every input below the committed offset
was copied, the inputs before the bad one were copied, and the bad one itself stays
uncommitted, so it is consumed again once the cause is fixed.

Kafka cases use the session broker, which has automatic topic creation off: a missing
topic stays missing (checked), otherwise the missing-topic case would prove nothing.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from oracle import (
    PROCESSOR,
    base_env,
    committed_offsets,
    create_topics,
    random_name,
    read_output,
    run_command,
)

from streamprocessor import options
from streamprocessor.clients import kafka
from streamprocessor.clients.kafka import testing as kt
from streamprocessor.stream.errors import ClientClosedError
from streamprocessor.testing.kafka_broker import KafkaCluster

pytestmark = pytest.mark.kafka

#: the input of the Kafka cases: the bad message comes third
INPUT = [b"a", b"b", b"poison", b"c"]
POISON = 2


@dataclass
class Case:
    """One row of the catalogue."""

    name: str
    handler: str = "copy"
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    exit: int = 1
    cause: list[str] = field(default_factory=list)
    fix: list[str] = field(default_factory=list)
    kafka: bool = True
    #: fails at delivery, after the send: the acks taken with it (those of its batch)
    #: wait on that send, so the position may stay up to one batch before it
    at_delivery: bool = False


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


KAFKA_CASES = [
    Case(
        "oversized Kafka message (producer limit)",
        handler="huge_on_poison",
        cause=["Message size too large", "MSG_SIZE_TOO_LARGE"],
        fix=["message.max.bytes", "KAFKA_LIBRDKAFKA_CONFIG", "max.message.bytes on the topic"],
    ),
    Case(
        "oversized Kafka message (topic limit on the broker)",
        handler="huge_on_poison",
        env={"PRODUCER_KAFKA_LIBRDKAFKA_CONFIG": "message.max.bytes=5000000"},
        # (the input's failure under the policy: the run finds it, so it stops right there)
        cause=["handler failed on message", "the broker refused a message of 3000",
               "MSG_SIZE_TOO_LARGE"],
        fix=["max.message.bytes on the topic", "message.max.bytes"],
    ),
    Case(
        "invalid environment value",
        env={"CONSUMER_KAFKA_COMMIT_INTERVAL": "soon"},
        exit=2,
        cause=["invalid value 'soon' for CONSUMER_KAFKA_COMMIT_INTERVAL"],
        fix=["expected a Go duration such as 500ms"],
    ),
    Case(
        "unreachable broker",
        env={"CONSUMER_KAFKA_CONNECT_TIMEOUT": "3s"},  # brokers: a closed port (below)
        cause=["unable to reach Kafka", "within 3s", "Connection refused"],
        fix=[
            "check that the brokers run and are reachable (CONSUMER_KAFKA_BROKERS)",
            "KAFKA_CONNECT_TIMEOUT",
        ],
    ),
    Case(
        "handler exception (3 workers, 3 partitions)",
        handler="fail_on_poison",
        args=["--concurrency", "3"],
        cause=["ValueError: cannot process poison message at 0:2"],
        fix=["consumed again after a restart", "Fix the handler", "--on-error skip"],
    ),
    Case(
        "handler returning a non-message",
        handler="bytes_on_poison",
        cause=["the handler returned bytes"],
        fix=["return None, a Message, to(name, message) or an iterable of those"],
    ),
    Case(
        "non-bytes value",
        handler="text_on_poison",
        cause=["HandlerOutputError: the handler returned a Message whose value is a str"],
        fix=["value must be bytes or None (make it bytes: value.encode())", "--on-error skip"],
    ),
    Case(
        "input topic that does not exist",
        cause=["does not exist", "UNKNOWN_TOPIC_OR_PART"],
        fix=["create it, or check the topic name (*_KAFKA_TOPICS / *_KAFKA_TOPIC)"],
    ),
    Case(
        "output topic that does not exist",
        # librdkafka waits topic.metadata.propagation.max.ms (30 s) for a new topic to
        # appear before it gives up; shortened here to keep the test quick
        env={"PRODUCER_KAFKA_LIBRDKAFKA_CONFIG": "topic.metadata.propagation.max.ms=2000"},
        cause=["message delivery failure", "Unknown topic"],
        fix=["create it, or check the topic name"],
    ),
]


def _error_line(text: str) -> str:
    """The last ERROR/CRITICAL line and the exception line, as a user reads them."""
    lines = [ln for ln in text.splitlines() if " ERROR " in ln or " CRITICAL " in ln]
    exc = [ln for ln in text.splitlines() if ln and not ln[0].isspace() and "Error: " in ln]
    return "\n".join(lines[-1:] + exc[-1:])


@pytest.mark.parametrize("case", KAFKA_CASES, ids=[c.name for c in KAFKA_CASES])
def test_bad_input_on_kafka_gives_a_clear_error_and_loses_nothing_before_it(
    secure_kafka: KafkaCluster, case: Case, figures: Callable[..., None]
) -> None:
    brokers = secure_kafka.bootstrap_servers
    partitions = 3 if "--concurrency" in case.args else 1
    src, dst = random_name("in"), random_name("out")
    create_topics(brokers, [src, dst], partitions)
    producer = Producer({"bootstrap.servers": brokers, "enable.idempotence": True})
    for p in range(partitions):  # the bad input is the third message of partition 0
        for value in INPUT if p == 0 else [b"a", b"b", b"c"]:
            producer.produce(src, value, partition=p)
    assert producer.flush(30) == 0
    group = random_name("g")
    consumed = random_name("missing") if "input topic" in case.name else src
    produced = random_name("missing") if "output topic" in case.name else dst
    consumer_brokers = brokers
    if case.name == "unreachable broker":
        consumer_brokers = f"127.0.0.1:{_closed_port()}"
    env = {
        **base_env(),
        "CONSUMER_CLIENT_TYPE": "kafka",
        "CONSUMER_KAFKA_BROKERS": consumer_brokers,
        "CONSUMER_KAFKA_TOPICS": consumed,
        "CONSUMER_KAFKA_GROUP_ID": group,
        "CONSUMER_KAFKA_SESSION_TIMEOUT": "3s",
        "PRODUCER_CLIENT_TYPE": "kafka",
        "PRODUCER_KAFKA_BROKERS": brokers,
        "PRODUCER_KAFKA_TOPIC": produced,
        "PRODUCER_KAFKA_MAX_QUEUE_BUFFER_DURATION": "10ms",
        **case.env,
    }
    code, out, err, took = run_command(
        ["run", f"{PROCESSOR}:{case.handler}", *case.args], env, timeout=90
    )
    text = (out + err).decode(errors="replace")
    error = _error_line(text)
    figures(case=case.name, exit=code, seconds=round(took, 2), error=error)
    assert code == case.exit, text[-3000:]
    for words in (*case.cause, *case.fix):
        assert words in text, f"{words!r} not in the error:\n{error}\n---\n{text[-2000:]}"
    assert took < 30, f"took {took:.1f}s: a bad input must fail fast"
    # nothing before the bad input was lost
    committed = committed_offsets(brokers, group, src, partitions)
    copied = {r.src for r in read_output(brokers, dst, partitions, stable=0.0)}
    for p, offset in committed.items():
        assert all((p, o) in copied for o in range(max(offset, 0))), (committed, copied)
    assert committed[0] <= POISON, f"committed past the bad input: {committed}"
    if case.handler != "copy":  # the run got as far as the bad input
        if not case.at_delivery:
            assert committed[0] == POISON, (committed, text[-4000:])
        assert {(0, 0), (0, 1)} <= copied, copied
    if consumed != src or produced != dst:  # automatic creation is off: still missing
        missing = consumed if consumed != src else produced
        meta = AdminClient({"bootstrap.servers": brokers}).list_topics(timeout=10)
        assert missing not in meta.topics, f"{missing} was created: the case proves nothing"


def test_oversized_line_on_stdin_keeps_the_lines_before_it(
    figures: Callable[..., None],
) -> None:
    data = b"a\nb\n" + b"x" * 2000 + b"\nc\n"
    env = {**base_env(), "DRY_RUN": "1", "CONSUMER_STANDARDSTREAM_MAX_LINE_SIZE": "1000"}
    code, out, err, _took = run_command(["pipe"], env, timeout=30, stdin=data)
    text = err.decode(errors="replace")
    figures(case="oversized line on stdin", exit=code, error=_error_line(text))
    assert code == 1, text
    assert out == b"a\nb\n", out  # the lines before it were written
    assert "line 3 is longer than the maximum line size of 1000 bytes" in text
    assert "CONSUMER_STANDARDSTREAM_MAX_LINE_SIZE" in text
    assert "options.standardstream_max_line_size" in text


def test_unknown_client_type_is_an_error_even_with_stdin_piped(
    figures: Callable[..., None],
) -> None:
    env = {**base_env(), "CONSUMER_CLIENT_TYPE": "kafak", "DRY_RUN": "1"}
    code, out, err, _ = run_command(["run", f"{PROCESSOR}:copy"], env, 30, stdin=b"a\n")
    text = err.decode(errors="replace")
    figures(case="unknown client type", exit=code, error=_error_line(text))
    assert code == 2, text
    assert out == b"", "a typo must not make it read stdin"
    assert "unknown consumer client type 'kafak' in CONSUMER_CLIENT_TYPE" in text
    assert "did you mean 'kafka'?" in text
    assert "valid types are inmem, kafka, standardstream" in text


def test_using_a_closed_kafka_client_is_a_clear_error_and_keeps_what_was_acknowledged(
    secure_kafka: KafkaCluster, figures: Callable[..., None]
) -> None:
    brokers = secure_kafka.bootstrap_servers
    src, dst = random_name("in"), random_name("out")
    create_topics(brokers, [src, dst], 1)
    producer = Producer({"bootstrap.servers": brokers})
    for value in (b"a", b"b"):
        producer.produce(src, value)
    assert producer.flush(30) == 0
    group = random_name("g")
    consumer = kafka.new_consumer(
        options.kafka_broker(brokers),
        options.kafka_topic(src),
        options.kafka_group_id(group),
        options.manual_interrupt_handling(),
    )
    out = kafka.new_producer(
        options.kafka_broker(brokers),
        options.kafka_topic(dst),
        options.manual_interrupt_handling(),
    )
    first = next(iter(consumer))
    out.send(first)
    consumer.ack(first)
    second = next(iter(consumer))
    consumer.close()
    out.close()
    errors = []
    for what, call in (
        ("ack", lambda: consumer.ack(second)),
        ("nack", lambda: consumer.nack(second)),
        ("send", lambda: out.send(second)),
        ("flush", lambda: out.flush(1)),
    ):
        with pytest.raises(ClientClosedError) as info:
            call()
        text = str(info.value)
        errors.append(text)
        assert f"cannot {what}: this kafka" in text and "is closed" in text, text
        assert "create a new one with streamprocessor.new_" in text, text
    assert list(consumer) == [], "iterating a closed consumer ends at once"
    consumer.close()  # idempotent
    figures(case="use of a closed client", error=errors[0])
    assert committed_offsets(brokers, group, src, 1) == {0: 1}
    assert [m.value for m in kt.read_messages(brokers, dst)] == [b"a"]
