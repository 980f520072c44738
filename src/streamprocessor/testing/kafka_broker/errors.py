"""The errors of the test broker kit: one base class, one subclass per thing that fails."""

from __future__ import annotations

from streamprocessor.stream.errors import StreamProcessorError

__all__ = ["BrokerStartError", "CertificateError", "JarFetchError", "KafkaBrokerError"]


class KafkaBrokerError(StreamProcessorError, RuntimeError):
    """Base class of the errors this package raises (also a RuntimeError, as it was)."""


class JarFetchError(KafkaBrokerError):
    """Maven could not resolve the Kafka jars; the message ends with Maven's output."""


class BrokerStartError(KafkaBrokerError):
    """A node could not be formatted or did not become ready; the message has its log tail."""


class CertificateError(KafkaBrokerError):
    """``openssl`` is missing or failed while making test certificates."""
