"""The conformance suite on the Kafka client, against a real broker."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from streamprocessor.clients import kafka
from streamprocessor.clients.kafka import testing as kt
from streamprocessor.testing.conformance import ConformanceSuite, Features, Harness

pytestmark = pytest.mark.kafka


class KafkaHarness(Harness):
    """Producers write to one fresh topic; consumers join one group on it."""

    def __init__(self, brokers: str, topic: str) -> None:
        super().__init__(features=Features(), timeout=15.0)
        self.brokers = brokers
        self.topic = topic
        self.group = kt.random_name("group")

    def new_producer(self, *opts: Any) -> Any:
        return kafka.new_producer(*kt.producer_options(self.brokers, self.topic), *opts)

    def new_consumer(self, *opts: Any) -> Any:
        return kafka.new_consumer(*kt.consumer_options(self.brokers, self.topic, self.group), *opts)

    def ready(self, consumer: Any) -> None:
        kt.wait_for_assignment(consumer, self.timeout)


class TestKafkaConformance(ConformanceSuite):
    @pytest.fixture
    def harness(self, kafka_brokers: str, kafka_topic: Callable[..., str]) -> Harness:
        return KafkaHarness(kafka_brokers, kafka_topic())
