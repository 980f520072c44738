"""The stream contract: messages, consumers, producers, stores, mocks and test helpers.

This package imports nothing else of streamprocessor (the protocols name config's
classes in type annotations only).
"""

from streamprocessor.stream.errors import (
    ClientClosedError,
    ClientError,
    ConfigError,
    DeliveryError,
    FlushTimeoutError,
    InvalidMessageError,
    LineTooLongError,
    ManualErrorsDisabledError,
    MissingDependencyError,
    OpaqueAlreadySet,
    StreamProcessorError,
    UnknownClientError,
)
from streamprocessor.stream.message import (
    Message,
    message_opaque,
    set_message_opaque,
    test_message,
)
from streamprocessor.stream.mocks import ConsumerMock, ProducerMock
from streamprocessor.stream.protocols import (
    AsyncConsumer,
    AsyncProducer,
    BatchConsumer,
    Consumer,
    ErrorCloser,
    Producer,
    Store,
)

__all__ = [
    "AsyncConsumer",
    "AsyncProducer",
    "BatchConsumer",
    "ClientClosedError",
    "ClientError",
    "ConfigError",
    "Consumer",
    "ConsumerMock",
    "DeliveryError",
    "ErrorCloser",
    "FlushTimeoutError",
    "InvalidMessageError",
    "LineTooLongError",
    "ManualErrorsDisabledError",
    "Message",
    "MissingDependencyError",
    "OpaqueAlreadySet",
    "Producer",
    "ProducerMock",
    "Store",
    "StreamProcessorError",
    "UnknownClientError",
    "message_opaque",
    "set_message_opaque",
    "test_message",
]
