"""The Kafka client's conformance harness, against a real broker (the ``kafka_brokers`` fixture).

A nack rewinds the partition. Fatal errors are real librdkafka paths: a breakable
consumer also subscribes to a second, empty topic, which :meth:`KafkaHarness.provoke_fatal`
deletes (the consumer reports the missing topic: UNKNOWN_TOPIC_OR_PART, terminal); a
breakable producer is idempotent with ``enable.gapless.guarantee=true``, and
``provoke_fatal`` sends it a record over the ``max.message.bytes`` of a second topic: the
broker refuses the batch and librdkafka raises its fatal ``_GAPLESS_GUARANTEE``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from streamprocessor import options
from streamprocessor.clients import kafka
from streamprocessor.clients.kafka import testing as kt
from streamprocessor.stream import Consumer, Message
from streamprocessor.testing.conformance import Features, Harness

if TYPE_CHECKING:
    import pytest

__all__ = ["HARNESSES", "KafkaHarness"]


class KafkaHarness(Harness):
    """Producers write to one fresh topic; consumers join one group on it."""

    def __init__(self, brokers: str, topic: str, new_topic: Callable[..., str]) -> None:
        super().__init__(features=Features(nack="rewind"), timeout=15.0)
        self.brokers = brokers
        self.topic = topic
        self.group = kt.random_name("group")
        self.new_topic = new_topic
        self.doomed: dict[Any, str] = {}  # breakable client → the topic that breaks it

    def new_producer(self, *opts: Any) -> Any:
        return kafka.new_producer(*kt.producer_options(self.brokers, self.topic), *opts)

    def new_consumer(self, *opts: Any) -> Any:
        return kafka.new_consumer(*kt.consumer_options(self.brokers, self.topic, self.group), *opts)

    def new_breakable_consumer(self, *opts: Any) -> Any:
        doomed = self.new_topic()
        c = self.new_consumer(
            options.kafka_topic(doomed),
            # (a deleted topic is noticed at the next metadata refresh: 5 min by default)
            options.kafka_librdkafka_config({"topic.metadata.refresh.interval.ms": "500"}),
            *opts,
        )
        self.doomed[c] = doomed
        return c

    def new_breakable_producer(self, *opts: Any) -> Any:
        p = self.new_producer(
            options.kafka_compression_codec("none"),
            options.kafka_librdkafka_config(
                {"enable.idempotence": "true", "enable.gapless.guarantee": "true"}
            ),
            *opts,
        )
        self.doomed[p] = self.new_topic(**{"max.message.bytes": "1000"})
        return p

    def provoke_fatal(self, client: Any) -> None:
        if isinstance(client, Consumer):
            kt.delete_topics(self.brokers, [self.doomed[client]])
        else:
            client.send(Message(value=b"x" * 5000, producer_topic=self.doomed[client]))

    def ready(self, consumer: Any) -> None:
        kt.wait_for_assignment(consumer, self.timeout)


def _kafka(request: pytest.FixtureRequest) -> Harness:
    brokers: str = request.getfixturevalue("kafka_brokers")
    new_topic: Callable[..., str] = request.getfixturevalue("kafka_topic")
    return KafkaHarness(brokers, new_topic(), new_topic)


#: the harnesses the conformance suite runs this client type with: variant → factory
HARNESSES: dict[str, Callable[[pytest.FixtureRequest], Harness]] = {"broker": _kafka}
