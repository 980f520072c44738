"""The in-memory client: a store shared between producers and consumers of one process.

Datasheet:

- fields: every ``Message`` field round-trips (value, key, timestamp, tags, topics, offset);
- persistence: the process; the store keeps copies, so mutating a message never changes it;
- modes: consume-once (default) reads the store once as a fixture and leaves it untouched;
  listen mode (``options.inmem_listen()``) waits for new messages without polling, and a
  message leaves the store when it is acknowledged — a new consumer gets what was not;
- ordering: store order; ``nack`` delivers the message again before the next one;
- backlog: the messages not yet acknowledged;
- environment: ``CONSUMER_CLIENT_TYPE=inmem``, ``PRODUCER_CLIENT_TYPE=inmem``,
  ``CONSUMER_INMEM_CONSUME_ONCE``;
- extra to install: none.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamprocessor.clients import lazy_names, new_async_client, new_client

if TYPE_CHECKING:
    from streamprocessor.clients.inmem.client import InmemConsumer, InmemProducer
    from streamprocessor.clients.inmem.config import InmemConsumerConfig, InmemProducerConfig
    from streamprocessor.config.build import ConsumerOption, ProducerOption
    from streamprocessor.stream.protocols import AsyncConsumer, AsyncProducer

__all__ = [
    "InmemConsumer",
    "InmemConsumerConfig",
    "InmemProducer",
    "InmemProducerConfig",
    "new_async_consumer",
    "new_async_producer",
    "new_consumer",
    "new_producer",
]


def new_consumer(*options: ConsumerOption | None) -> InmemConsumer:
    """Return an in-memory consumer configured by ``options`` and the environment."""
    consumer: InmemConsumer = new_client("consumer", options, "inmem")
    return consumer


def new_producer(*options: ProducerOption | None) -> InmemProducer:
    """Return an in-memory producer configured by ``options`` and the environment."""
    producer: InmemProducer = new_client("producer", options, "inmem")
    return producer


def new_async_consumer(*options: ConsumerOption | None) -> AsyncConsumer:
    """Return the async face of an in-memory consumer (``async with``, ``async for``)."""
    consumer: AsyncConsumer = new_async_client("consumer", options, "inmem")
    return consumer


def new_async_producer(*options: ProducerOption | None) -> AsyncProducer:
    """Return the async face of an in-memory producer (``await producer.send(msg)``)."""
    producer: AsyncProducer = new_async_client("producer", options, "inmem")
    return producer


#: the names this package defines in its modules, imported on first use
__getattr__ = lazy_names(
    __name__,
    {
        "InmemConsumer": "client",
        "InmemConsumerConfig": "config",
        "InmemProducer": "client",
        "InmemProducerConfig": "config",
    },
)
