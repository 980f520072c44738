"""Test helpers: run_handler, the pytest plugin's fixtures, the conformance suite."""

from __future__ import annotations

from collections.abc import Callable
from typing import assert_type

import pytest

from streamprocessor import Consumer, Message, Producer, options
from streamprocessor.clients import inmem, kafka
from streamprocessor.stores import InmemStore
from streamprocessor.testing import (
    ConformanceSuite,
    Features,
    Harness,
    HeldProducer,
    collect,
    run_handler,
)
from streamprocessor.testing.conformance import ack_barrier
from streamprocessor.testing.harness import HandlerResult
from streamprocessor.testing.kafka_broker import KafkaCluster


def handle(msg: Message) -> Message:
    return msg


def test_run_handler() -> None:
    result = run_handler(handle, [b"a", "b", Message(value=b"c")], on_error="skip", retries=1)
    assert_type(result, HandlerResult)
    assert_type(result.values, list[bytes | None])
    assert_type(result.messages, list[Message])
    assert_type(result.dead_letters, list[Message])
    assert_type(result["invalid"], list[Message])
    assert_type(result.totals, dict[str, int])


def test_with_fixtures(
    inmem_store: InmemStore,
    stream_env: pytest.MonkeyPatch,
    kafka_brokers: str,
    kafka_topic: Callable[..., str],
) -> None:
    stream_env.setenv("CONSUMER_CLIENT_TYPE", "inmem")
    inmem_store.add(Message(value=b"x"))
    topic: str = kafka_topic(partitions=3)
    with kafka.new_producer(options.kafka_broker(kafka_brokers), options.kafka_topic(topic)) as p:
        p.send(Message(value=b"x"))


class InmemHarness(Harness):
    def __init__(self) -> None:
        super().__init__(features=Features(finite=True), timeout=5.0)
        self.store = InmemStore()

    def new_producer(self, *opts: options.Option) -> Producer:
        return inmem.new_producer(options.inmem_store(self.store), *opts)

    def new_consumer(self, *opts: options.Option) -> Consumer:
        return inmem.new_consumer(options.inmem_store(self.store), *opts)

    def provoke_fatal(self, client: Consumer | Producer) -> None:
        client.close()  # (a real backend breaks its connection here)


class TestMyClient(ConformanceSuite):
    @pytest.fixture
    def harness(self) -> Harness:
        return InmemHarness()


def read_some(consumer: Consumer) -> None:
    assert_type(collect(consumer, 3, timeout=1.0), list[Message])


def hold_a_send() -> None:
    with HeldProducer(ack_barrier()) as held:
        held.send(Message(value=b"out"))
        held.confirm()
        assert_type(held.sent, list[Message])


def broker() -> None:
    with KafkaCluster() as cluster:
        assert_type(cluster.bootstrap_servers, str)
