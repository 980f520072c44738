"""Options: one function per option of the original (``KafkaTopic`` → ``kafka_topic``).

Pass them to ``new_consumer(...)``/``new_producer(...)`` or a client module's
constructors. An option is any callable taking the config and changing it (or returning
a new one), so ``lambda c: setattr(c.kafka, "group_id", "g")`` is one too. Every option
here is an :data:`Option` (for both sides); a function of your own that takes only a
``ConsumerConfig`` is a :data:`ConsumerOption`, accepted by the consumer constructors
(``ProducerOption`` likewise). Options that
only concern consumers leave a producer config untouched, and the other way round.
Arguments are checked when the option is created: a bad one raises ``ConfigError``
naming the option. Durations are a ``timedelta`` or a Go duration string (``"5s"``).

"Environment" names the variable that overrides the option, after the prefix ``*``:
``CONSUMER``/``PRODUCER``, or ``<NAME>_CONSUMER``/``<NAME>_PRODUCER`` for a named client.

The options of one client type are defined in its folder (``kafka_topic`` in
:mod:`streamprocessor.clients.kafka.options`) and reached here by name: ``options.<type>_…``
imports that type's options module when first used — a client type of another package
too (typed for mypy through its own module).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from streamprocessor.config.build import ConsumerOption, Option, ProducerOption
from streamprocessor.config.fields import default_logger
from streamprocessor.config.models import ConsumerConfig, ProducerConfig
from streamprocessor.config.optionkit import Duration, fixed, invalid, make, setter
from streamprocessor.util.barrier import AckBarrier
from streamprocessor.util.interrupts import ShutdownCoordinator

if TYPE_CHECKING:
    from streamprocessor.clients.inmem.options import (
        inmem_listen,
        inmem_store,
    )
    from streamprocessor.clients.kafka.options import (
        kafka_broker,
        kafka_commit_interval,
        kafka_compression_codec,
        kafka_connect_timeout,
        kafka_debug,
        kafka_group_id,
        kafka_group_id_random,
        kafka_handle_transient_errors,
        kafka_heartbeat_interval,
        kafka_id,
        kafka_librdkafka_config,
        kafka_max_delivery_retries,
        kafka_max_in_flight_requests,
        kafka_max_poll_interval,
        kafka_max_queue_buffer_duration,
        kafka_max_queue_size_kbytes,
        kafka_max_queue_size_messages,
        kafka_offset_head,
        kafka_offset_initial,
        kafka_offset_tail,
        kafka_ordered_delivery,
        kafka_require_all_ack,
        kafka_require_leader_ack,
        kafka_require_no_ack,
        kafka_retry_backoff,
        kafka_sasl,
        kafka_security_protocol,
        kafka_session_timeout,
        kafka_ssl,
        kafka_statistics_interval,
        kafka_topic,
    )
    from streamprocessor.clients.standardstream.options import (
        standardstream_max_line_size,
        standardstream_reader,
        standardstream_writer,
    )
__all__ = [
    "ConsumerOption", "Option", "ProducerOption", "ack_barrier",
    "consumer_options", "disable_environment_config", "inmem_listen",
    "inmem_store", "interrupt_coordinator", "kafka_broker", "kafka_commit_interval",
    "kafka_compression_codec",
    "kafka_connect_timeout",
    "kafka_debug", "kafka_group_id", "kafka_group_id_random", "kafka_handle_transient_errors",
    "kafka_heartbeat_interval", "kafka_id", "kafka_librdkafka_config",
    "kafka_max_delivery_retries", "kafka_max_in_flight_requests", "kafka_max_poll_interval",
    "kafka_max_queue_buffer_duration", "kafka_max_queue_size_kbytes",
    "kafka_max_queue_size_messages", "kafka_offset_head", "kafka_offset_initial",
    "kafka_offset_tail", "kafka_ordered_delivery", "kafka_require_all_ack",
    "kafka_require_leader_ack", "kafka_require_no_ack", "kafka_retry_backoff", "kafka_sasl",
    "kafka_security_protocol", "kafka_session_timeout", "kafka_ssl",
    "kafka_statistics_interval", "kafka_topic", "logger", "manual_error_handling",
    "manual_interrupt_handling", "name", "producer_options", "shutdown_timeout",
    "standardstream_max_line_size", "standardstream_reader", "standardstream_writer",
]  # fmt: skip


def _callable(option: str, fn: object) -> None:
    if not callable(fn):
        raise invalid(option, repr(fn), "not callable")


# -- globals ------------------------------------------------------------------------------


def consumer_options(fn: Callable[[ConsumerConfig], object]) -> Option:
    """Run ``fn`` on consumer configs only (Go ``ConsumerOptions``); several compose."""
    _callable("consumer_options", fn)
    return make("consumer", f"consumer_options({fn!r})", fn)


def producer_options(fn: Callable[[ProducerConfig], object]) -> Option:
    """Run ``fn`` on producer configs only (Go ``ProducerOptions``); several compose."""
    _callable("producer_options", fn)
    return make("producer", f"producer_options({fn!r})", fn)


def disable_environment_config() -> Option:
    """Ignore environment variables (Go ``DisableEnvironmentConfig``).

    The factory still reads ``*_CLIENT_TYPE`` and ``DRY_RUN``, as the original did.
    """
    field = "allow_environment_based_configuration"
    return fixed("both", "disable_environment_config", field, False)


def manual_error_handling() -> Option:
    """Deliver errors on ``client.errors()`` instead of raising (Go ``ManualErrorHandling``)."""
    return fixed("both", "manual_error_handling", "handle_errors", False)


def manual_interrupt_handling() -> Option:
    """Leave SIGINT/SIGTERM/SIGQUIT to the application (Go ``ManualInterruptHandling``)."""
    return fixed("both", "manual_interrupt_handling", "handle_interrupt", False)


def ack_barrier(barrier: AckBarrier | None) -> Option:
    """Join ``barrier`` instead of the process-wide ack barrier (None: back to it; not in Go).

    A consumer's acknowledgements are committed only once the earlier sends of the
    producers of *its* barrier are delivered: give the same barrier to a consumer and to
    the producers it must wait for (tests, independent pipelines in one process).
    """
    return setter("both", "ack_barrier", "ack_barrier", barrier)


def interrupt_coordinator(coordinator: ShutdownCoordinator | None) -> Option:
    """Register with ``coordinator`` instead of the process-wide one (None: back to it).

    A coordinator made with ``ShutdownCoordinator()`` installs no signal handler: its
    owner stops its clients with ``coordinator.stop()`` (not in Go).
    """
    return setter("both", "interrupt_coordinator", "interrupt_coordinator", coordinator)


def logger(log: logging.Logger | None) -> Option:
    """Log to ``log``; None restores the default ``streamprocessor`` logger (Go ``Logger``)."""
    return setter("both", "logger", "logger", default_logger() if log is None else log)


def name(s: str) -> Option:
    """Name the client (Go ``Name``): its variables become ``<NAME>_CONSUMER_*`` etc."""
    return setter("both", "name", "name", s)


def shutdown_timeout(d: Duration) -> Option:
    """Allow ``d`` to flush and commit after an interrupt (default 10s; not in Go).

    Environment: ``*_SHUTDOWN_TIMEOUT``.
    """
    return setter("both", "shutdown_timeout", "shutdown_timeout", d)


def _client_options(name: str) -> Any:
    # ``kafka_topic`` → the options module of the type ``kafka`` (longest known prefix)
    import streamprocessor.clients.registry as registry
    from streamprocessor.clients.spec import load

    parts = name.split("_")
    for end in range(len(parts) - 1, 0, -1):
        spec = registry.find("_".join(parts[:end]))
        if spec is not None and spec.options:
            module = load(spec.options)
            if hasattr(module, name):
                return getattr(module, name)
    return None


if not TYPE_CHECKING:

    def __getattr__(name: str) -> Any:
        value = _client_options(name) if not name.startswith("_") else None
        if value is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        globals()[name] = value
        return value
