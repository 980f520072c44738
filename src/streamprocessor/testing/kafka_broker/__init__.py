"""Run a real Apache Kafka broker (KRaft mode) for tests (moving: split by concern next)."""

from streamprocessor.testing.kafka_broker.cluster import *  # noqa: F403
from streamprocessor.testing.kafka_broker.cluster import STATE_FILE as STATE_FILE
from streamprocessor.testing.kafka_broker.cluster import __all__ as __all__
from streamprocessor.testing.kafka_broker.cluster import _pid_alive as _pid_alive
