"""The exceptions of streamprocessor, one tree.

::

    StreamProcessorError
     ├── ConfigError (also ValueError)         bad option, bad environment value
     ├── UnknownClientError (also ConfigError) no or unknown client type
 ├── MissingDependencyError (also ConfigError) the chosen client's library is missing
     ├── OpaqueAlreadySet                      set_message_opaque called twice
     ├── ClientClosedError                     ack/nack/send/flush on a closed client
     ├── ClientError                           a client failed (wraps the backend cause)
     │    ├── LineTooLongError                 standardstream line over the limit
     │    ├── InvalidMessageError              send() of something no producer can send
     │    └── DeliveryError                    a produced message was not delivered
     ├── FlushTimeoutError                     flush/close could not deliver in time
     ├── ManualErrorsDisabledError             errors() while errors are handled for you
     ├── runner.HandlerError                   the runner's handler errors
     │    ├── HandlerOutputError (also TypeError)  a result the runner cannot send
     │    └── HandlerFailedError               the handler failed and the policy is stop
     └── testing.kafka_broker.KafkaBrokerError (also RuntimeError)  the test broker kit
          └── JarFetchError, BrokerStartError, CertificateError

Backend exceptions never escape raw: a client raises one of these ``from`` the cause
(Kafka's are translated in ``clients.kafka._errors``).
"""

from __future__ import annotations


class StreamProcessorError(Exception):
    """Base class of every error raised by streamprocessor."""


class ConfigError(StreamProcessorError, ValueError):
    """A configuration value (option or environment variable) is invalid."""


class UnknownClientError(ConfigError):
    """No client type could be determined, or the given one is unknown."""


class MissingDependencyError(ConfigError):
    """The chosen client type needs a library that is not installed (the error says which)."""


class OpaqueAlreadySet(StreamProcessorError):
    """A message's opaque value can only be set once."""


class ClientClosedError(StreamProcessorError):
    """The client is closed; it cannot ack, nack, send or flush any more."""


class ClientError(StreamProcessorError):
    """A client failed; ``__cause__`` holds the backend's own error when there is one."""


class LineTooLongError(ClientError):
    """An input line is longer than the configured maximum line size."""


class InvalidMessageError(ClientError):
    """A producer was given something it cannot send; nothing of it was sent.

    Not a Message, or a field of the wrong type. The runner treats it as the handler's
    failure (under the error policy).
    """


class DeliveryError(ClientError):
    """A produced message could not be delivered."""


class FlushTimeoutError(StreamProcessorError):
    """Flushing did not deliver every message within the time allowed."""

    def __init__(self, message: str, remaining: int) -> None:
        super().__init__(message)
        self.remaining = remaining


class ManualErrorsDisabledError(StreamProcessorError):
    """``errors()`` was called on a client that handles its errors itself."""
