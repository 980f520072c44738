"""The Kafka client: a consumer group member and a producer on librdkafka (confluent-kafka).

Datasheet:

- fields: every ``Message`` field round-trips — value (``None`` is a tombstone), key,
  timestamp (millisecond precision, UTC; none or the epoch lets Kafka stamp the send
  time), tags ↔ headers (exactly the tags, both ways; a header without value reads as
  ``b""``, one with an empty key and no value — the Go original's padding — is dropped,
  a repeated header key keeps the last value), ``consumer_topic`` and
  ``offset`` on consumed messages. The producer sends to ``producer_topic``, else its
  configured topic — never to ``consumer_topic``. Timestamps and tags of consumed
  messages are built on first access.
- persistence: the broker. A consumer's acknowledged position is stored as it advances
  and committed every ``commit_interval`` (default 5 s), synchronously on partition
  revoke and on close; a new member of the group continues from there.
- delivery: at least once. The committed position advances only over the acknowledged
  prefix of the offsets actually delivered, so an out-of-order ack never skips an
  unacknowledged message; and only once every message sent before the ack, on any open
  producer of the consumer's ack barrier (the process-wide one unless
  ``options.ack_barrier`` gives another), is delivered. ``nack`` seeks the partition back: the
  message and the later ones of its partition come again. An ack for a partition the
  consumer no longer owns is a logged no-op.
- ordering: per partition (messages of one key go to one partition). With acks from all
  replicas (the default) the producer is idempotent, so retries neither reorder nor
  duplicate; ``options.kafka_ordered_delivery()`` keeps order with other ack settings.
- backlog: Σ over assigned partitions of (high watermark - acknowledged position, or the
  committed offset where nothing was acknowledged yet); 0 before assignment.
- failure: a broker that cannot be reached at start is an error after
  ``connect_timeout`` (default 30 s); one that goes away later is ridden out. A full
  local queue makes ``send`` wait. Failed deliveries, authentication, TLS and
  configuration errors and missing topics are errors (see ``errors``); transient broker
  trouble is logged. ``flush``/``close`` are bounded and say what was not delivered;
  a consumer's close is bounded (shutdown timeout) and logs what it could not commit.
- environment: ``CONSUMER_CLIENT_TYPE=kafka`` / ``PRODUCER_CLIENT_TYPE=kafka`` and
  ``<P>_KAFKA_*`` (``BROKERS``, ``TOPICS``/``TOPIC``, ``GROUP_ID``,
  ``COMMIT_INTERVAL``, ``OFFSET_INITIAL``, ``OFFSET_DEFAULT``, ``SSL_*``, ``DEBUG``, …),
  plus ``<P>_KAFKA_SASL_MECHANISM``/``_USERNAME``/``_PASSWORD``,
  ``<P>_KAFKA_LIBRDKAFKA_CONFIG`` (``key=value,…`` passed to librdkafka) and
  ``<P>_KAFKA_CONNECT_TIMEOUT``.
- extra to install: none (confluent-kafka is a dependency of streamprocessor).

Test helpers for a live broker are in :mod:`streamprocessor.clients.kafka.testing`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamprocessor.clients import lazy_names, new_async_client, new_client

if TYPE_CHECKING:
    from streamprocessor.clients.kafka.config import KafkaConsumerConfig, KafkaProducerConfig
    from streamprocessor.clients.kafka.consumer import KafkaConsumer
    from streamprocessor.clients.kafka.message import KafkaMessage
    from streamprocessor.clients.kafka.producer import KafkaProducer
    from streamprocessor.config.build import ConsumerOption, ProducerOption
    from streamprocessor.stream.protocols import AsyncConsumer, AsyncProducer

__all__ = [
    "KafkaConsumer",
    "KafkaConsumerConfig",
    "KafkaMessage",
    "KafkaProducer",
    "KafkaProducerConfig",
    "new_async_consumer",
    "new_async_producer",
    "new_consumer",
    "new_producer",
]


def new_consumer(*options: ConsumerOption | None) -> KafkaConsumer:
    """Return a Kafka consumer configured by ``options`` and the environment."""
    consumer: KafkaConsumer = new_client("consumer", options, "kafka")
    return consumer


def new_producer(*options: ProducerOption | None) -> KafkaProducer:
    """Return a Kafka producer configured by ``options`` and the environment."""
    producer: KafkaProducer = new_client("producer", options, "kafka")
    return producer


def new_async_consumer(*options: ConsumerOption | None) -> AsyncConsumer:
    """Return the async face of a Kafka consumer (``async with``, ``async for``)."""
    consumer: AsyncConsumer = new_async_client("consumer", options, "kafka")
    return consumer


def new_async_producer(*options: ProducerOption | None) -> AsyncProducer:
    """Return the async face of a Kafka producer (``await producer.send(msg)``)."""
    producer: AsyncProducer = new_async_client("producer", options, "kafka")
    return producer


#: the names this package defines in its modules, imported on first use
__getattr__ = lazy_names(
    __name__,
    {
        "KafkaConsumer": "consumer",
        "KafkaConsumerConfig": "config",
        "KafkaMessage": "message",
        "KafkaProducer": "producer",
        "KafkaProducerConfig": "config",
    },
)
