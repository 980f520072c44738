"""streamprocessor: write a stream processor once, run it on Kafka, in memory and on stdio.

The everyday names::

    import streamprocessor
    from streamprocessor import options

    with streamprocessor.new_consumer() as consumer, streamprocessor.new_producer() as producer:
        for msg in consumer:
            producer.send(streamprocessor.Message(value=(msg.value or b"").upper()))
            consumer.ack(msg)

The client type comes from the environment (``CONSUMER_CLIENT_TYPE``,
``PRODUCER_CLIENT_TYPE``, ``DRY_RUN``) or a pipe on stdin.

``options`` (and pydantic, which the configs are built with) is imported when first
used, so a processor on stdin/stdout with default settings starts quickly.
"""

from typing import TYPE_CHECKING, Any

from streamprocessor.clients import (
    new_async_consumer,
    new_async_producer,
    new_consumer,
    new_producer,
)
from streamprocessor.stream import (
    AsyncConsumer,
    AsyncProducer,
    BatchConsumer,
    ClientClosedError,
    ClientError,
    ConfigError,
    Consumer,
    DeliveryError,
    FlushTimeoutError,
    InvalidMessageError,
    LineTooLongError,
    Message,
    MissingDependencyError,
    Producer,
    StreamProcessorError,
    UnknownClientError,
)

if TYPE_CHECKING:
    from streamprocessor import options

__version__ = "0.1.0"

__all__ = [
    "AsyncConsumer",
    "AsyncProducer",
    "BatchConsumer",
    "ClientClosedError",
    "ClientError",
    "ConfigError",
    "Consumer",
    "DeliveryError",
    "FlushTimeoutError",
    "InvalidMessageError",
    "LineTooLongError",
    "Message",
    "MissingDependencyError",
    "Producer",
    "StreamProcessorError",
    "UnknownClientError",
    "__version__",
    "new_async_consumer",
    "new_async_producer",
    "new_consumer",
    "new_producer",
    "options",
]


def __getattr__(name: str) -> Any:
    if name == "options":
        import streamprocessor.options

        return streamprocessor.options
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
