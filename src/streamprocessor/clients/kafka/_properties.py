"""The Kafka config section → librdkafka properties (updated for librdkafka 2.x).

IO-free: these functions only read the config and return a dict, so they are tested
without a broker and shared by any later async twin. The mapping follows the original
with these deliberate differences:

- ``retry_backoff`` sets ``retry.backoff.ms`` *and* ``retry.backoff.max.ms`` (at least
  1 s): librdkafka 2.x caps the first at the second (default 1 s) with only a warning, and
  backs off exponentially between them. Its default is 100 ms, not the original's 15 s:
  every request that failed with a connection (a reset, a broker restart) waited 15 s
  before its retry, and the output stood still that long after the network healed;
- consumer-only properties (heartbeat, session timeout) are no longer sent to producers;
- topic-level properties are set at the top level (``default.topic.config`` is deprecated);
- with ``required_acks`` = all (-1, the default) and retries allowed, the producer is
  idempotent: retries can no longer reorder or duplicate messages, so ordering per key
  holds under broker faults; librdkafka then needs at most 5 requests in flight, so
  ``max_in_flight_requests`` is capped at 5 and the original's static
  ``queue.buffering.backpressure.threshold=10`` is left out (both librdkafka's rules; pass
  ``enable.idempotence=false`` through ``librdkafka_config`` to opt out);
- SASL and the librdkafka pass-through (``librdkafka_config``, applied last) are new;
  the few properties the client itself relies on cannot be overridden;
- the original's static ``queued.min.messages=500000`` is dropped (librdkafka's default
  already prefetches plenty, with far less memory per partition); instead
  ``fetch.queue.backoff.ms`` is 50 (librdkafka 2.x waits 1 s by default before fetching
  again once that prefetch queue was full, which throttled a fast consumer of small
  messages fourfold here). Both can be set through ``librdkafka_config``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from streamprocessor.clients.kafka._errors import kafka_error
from streamprocessor.config.variables import env_prefix
from streamprocessor.stream.errors import ConfigError

if TYPE_CHECKING:
    from streamprocessor.config.models import ClientConfig, ConsumerConfig, ProducerConfig

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "check_config",
    "config_error",
    "connect_timeout",
    "consumer_properties",
    "producer_properties",
    "redacted",
    "variable",
]

#: how long a new client waits for the cluster when ``kafka.connect_timeout`` is unset
DEFAULT_CONNECT_TIMEOUT = timedelta(seconds=30)

_MS = timedelta(milliseconds=1)

#: librdkafka 2.x pauses fetching for this long once its local queue is full (its default,
#: 1000 ms, held small-message consumers here to about 230k msg/s; 50 ms: about 2M msg/s)
_FETCH_QUEUE_BACKOFF_MS = 50

#: properties the consumer relies on (at-least-once via explicit offset stores)
_CONSUMER_RESERVED = {
    "enable.auto.commit": "offsets are committed every commit_interval; tune that instead",
    "enable.auto.offset.store": "the client stores offsets only for acknowledged messages",
    "enable.partition.eof": "the client does not hand out end-of-partition events",
}
#: properties the producer relies on (every delivery is checked)
_PRODUCER_RESERVED = {
    "delivery.report.only.error": "every delivery report is needed to confirm sends",
    "enable.delivery.reports": "every delivery report is needed to confirm sends",
}
#: properties that are Python objects in confluent-kafka, set by the client
_CALLBACKS = {
    "error_cb",
    "stats_cb",
    "throttle_cb",
    "oauth_cb",
    "logger",
    "on_commit",
    "on_delivery",
    "dr_cb",
    "dr_msg_cb",
}

#: librdkafka property → config field (for error messages naming the option and variable)
_FIELDS: dict[str, str] = {
    "bootstrap.servers": "brokers",
    "metadata.broker.list": "brokers",
    "auto.commit.interval.ms": "commit_interval",
    "debug": "debug",
    "group.id": "group_id",
    "heartbeat.interval.ms": "heartbeat_interval",
    "client.id": "id",
    "max.in.flight.requests.per.connection": "max_in_flight_requests",
    "max.poll.interval.ms": "max_poll_interval",
    "auto.offset.reset": "offset_initial",
    "security.protocol": "security_protocol",
    "session.timeout.ms": "session_timeout",
    "ssl.ca.location": "ssl.ca_path",
    "ssl.certificate.location": "ssl.cert_path",
    "ssl.crl.location": "ssl.crl_path",
    "ssl.key.password": "ssl.key_password",
    "ssl.key.location": "ssl.key_path",
    "ssl.keystore.password": "ssl.keystore_password",
    "ssl.keystore.location": "ssl.keystore_path",
    "statistics.interval.ms": "statistics_interval",
    "batch.num.messages": "batch_message_size",
    "compression.codec": "compression_codec",
    "message.send.max.retries": "max_delivery_retries",
    "queue.buffering.max.ms": "max_queue_buffer_duration",
    "queue.buffering.max.kbytes": "max_queue_size_kbytes",
    "queue.buffering.max.messages": "max_queue_size_messages",
    "request.required.acks": "required_acks",
    "retry.backoff.ms": "retry_backoff",
    "retry.backoff.max.ms": "retry_backoff",
    "sasl.mechanism": "sasl.mechanism",
    "sasl.username": "sasl.username",
    "sasl.password": "sasl.password",
}


def variable(config: ClientConfig, suffix: str) -> str:
    """Return the full name of the variable ``suffix`` (``KAFKA_BROKERS``) of ``config``."""
    return f"{env_prefix(config.kind, config.name)}_{suffix}"


def _variable(config: ClientConfig, kind: str, field: str) -> str:
    suffix = "CLIENT_ID" if field == "id" else field.replace(".", "_").upper()
    return variable(config, f"KAFKA_{suffix}")


def check_config(kind: str, config: ClientConfig) -> None:
    """Refuse a config a Kafka client would refuse at start (:class:`ConfigError`), no I/O."""
    from streamprocessor.config.models import ConsumerConfig, ProducerConfig

    if isinstance(config, ConsumerConfig):
        consumer_properties(config)
    elif isinstance(config, ProducerConfig):
        producer_properties(config)


def _ms(value: timedelta | None) -> int:
    if value is None:
        return 0
    return int(value // _MS)


def _text(value: Any) -> str:
    """Return an enum's value or a string as is ("" for None)."""
    if value is None:
        return ""
    return str(getattr(value, "value", value))


def _secret(value: Any) -> str:
    if value is None:
        return ""
    get = getattr(value, "get_secret_value", None)
    return str(get() if get is not None else value)


def _common(config: ConsumerConfig | ProducerConfig, kind: str, props: dict[str, Any]) -> None:
    k = config.kafka
    brokers = list(k.brokers or [])
    if not brokers:
        raise ConfigError(
            f"required config kafka.brokers is empty: set {_variable(config, kind, 'brokers')} "
            '(comma-separated host:port) or pass options.kafka_broker("host:port")'
        )
    if any(not str(b).strip() for b in brokers):
        raise ConfigError(
            f"empty value in kafka.brokers {brokers!r}: check "
            f"{_variable(config, kind, 'brokers')} for stray commas"
        )
    props["bootstrap.servers"] = ",".join(brokers)
    debug = k.debug.to_librdkafka() if k.debug is not None else ""
    if debug:
        props["debug"] = debug
    if k.id:
        props["client.id"] = k.id
    protocol = _text(k.security_protocol)
    if protocol:
        props["security.protocol"] = protocol
    ssl = k.ssl
    for prop, value in (
        ("ssl.ca.location", ssl.ca_path),
        ("ssl.certificate.location", ssl.cert_path),
        ("ssl.crl.location", ssl.crl_path),
        ("ssl.key.password", _secret(ssl.key_password)),
        ("ssl.key.location", ssl.key_path),
        ("ssl.keystore.password", _secret(ssl.keystore_password)),
        ("ssl.keystore.location", ssl.keystore_path),
    ):
        if value:
            props[prop] = value
    sasl = getattr(k, "sasl", None)
    mechanism = _text(getattr(sasl, "mechanism", None))
    if sasl is not None and mechanism:
        if not protocol.startswith("sasl_"):
            raise ConfigError(
                f"SASL mechanism {mechanism!r} needs security_protocol sasl_ssl or "
                f"sasl_plaintext, not {protocol or 'plaintext'!r}: set "
                f"{_variable(config, kind, 'security_protocol')} or pass "
                "options.kafka_security_protocol(...)"
            )
        props["sasl.mechanism"] = mechanism
        if sasl.username:
            props["sasl.username"] = sasl.username
        password = _secret(sasl.password)
        if password:
            props["sasl.password"] = password
    props["statistics.interval.ms"] = _ms(k.statistics_interval)
    if k.max_in_flight_requests:
        props["max.in.flight.requests.per.connection"] = int(k.max_in_flight_requests)


def _passthrough(
    config: ConsumerConfig | ProducerConfig,
    kind: str,
    props: dict[str, Any],
    reserved: Mapping[str, str],
) -> dict[str, str]:
    extra: dict[str, str] = dict(getattr(config.kafka, "librdkafka_config", None) or {})
    variable = _variable(config, kind, "librdkafka_config")
    for key in extra:
        if key in reserved:
            raise ConfigError(
                f"librdkafka property {key!r} cannot be set through {variable} / "
                f"options.kafka_librdkafka_config: {reserved[key]}"
            )
        if key in _CALLBACKS:
            raise ConfigError(
                f"{key!r} is a Python callback in confluent-kafka and is set by the client; "
                f"it cannot be passed through {variable}"
            )
    props.update(extra)
    return extra


def consumer_properties(config: ConsumerConfig) -> dict[str, Any]:
    """Return the librdkafka properties of a Kafka consumer; raise ConfigError if invalid."""
    k = config.kafka
    props: dict[str, Any] = {}
    _common(config, "consumer", props)
    topics = list(k.topics or [])
    if not topics:
        raise ConfigError(
            "required config kafka.topics is empty: set "
            f"{_variable(config, 'consumer', 'topics')} or pass "
            'options.kafka_topic("name")'
        )
    if any(not str(t).strip() for t in topics):
        raise ConfigError(
            f"empty value in kafka.topics {topics!r}: check "
            f"{_variable(config, 'consumer', 'topics')} for stray commas"
        )
    if not k.group_id:
        raise ConfigError(
            "required config kafka.group_id is missing: set "
            f"{_variable(config, 'consumer', 'group_id')} or pass "
            'options.kafka_group_id("name") (or options.kafka_group_id_random())'
        )
    props["group.id"] = k.group_id
    if k.commit_interval:
        props["auto.commit.interval.ms"] = _ms(k.commit_interval)
    if k.heartbeat_interval:
        props["heartbeat.interval.ms"] = _ms(k.heartbeat_interval)
    if k.session_timeout:
        props["session.timeout.ms"] = _ms(k.session_timeout)
    if k.max_poll_interval:
        props["max.poll.interval.ms"] = _ms(k.max_poll_interval)
    offset = _text(k.offset_initial)
    if offset:
        props["auto.offset.reset"] = offset
    props["enable.auto.commit"] = True
    props["enable.auto.offset.store"] = False
    props["enable.partition.eof"] = False
    props["fetch.queue.backoff.ms"] = _FETCH_QUEUE_BACKOFF_MS
    _passthrough(config, "consumer", props, _CONSUMER_RESERVED)
    return props


#: a topic name the brokers accept (a producer learns of any other only in a delivery report)
_TOPIC_NAME = re.compile(r"[a-zA-Z0-9._-]{1,249}")


def topic_problem(topic: str) -> str | None:
    """Say why Kafka refuses ``topic`` as the name of a topic (None: it is a valid name)."""
    if _TOPIC_NAME.fullmatch(topic) and topic not in (".", ".."):
        return None
    return (
        "is not a valid Kafka topic name: use 1 to 249 letters, digits, '.', '_' "
        "and '-' (e.g. 'orders.v2'), not '.' or '..'"
    )


def producer_properties(config: ProducerConfig) -> dict[str, Any]:
    """Return the librdkafka properties of a Kafka producer; raise ConfigError if invalid."""
    k = config.kafka
    props: dict[str, Any] = {}
    _common(config, "producer", props)
    if not k.topic:
        raise ConfigError(
            "required config kafka.topic is missing: set "
            f'{_variable(config, "producer", "topic")} or pass options.kafka_topic("name") '
            "(the topic of messages without a producer_topic)"
        )
    bad = topic_problem(k.topic)
    if bad is not None:
        raise ConfigError(
            f"invalid value {k.topic!r} for {_variable(config, 'producer', 'topic')} "
            f"(or options.kafka_topic): it {bad}"
        )
    if k.batch_message_size:
        props["batch.num.messages"] = int(k.batch_message_size)
    codec = _text(k.compression_codec)
    if codec:
        props["compression.codec"] = codec
    retries = int(k.max_delivery_retries)
    props["message.send.max.retries"] = retries
    if k.max_queue_buffer_duration:
        props["queue.buffering.max.ms"] = _ms(k.max_queue_buffer_duration)
    if k.max_queue_size_kbytes:
        props["queue.buffering.max.kbytes"] = int(k.max_queue_size_kbytes)
    if k.max_queue_size_messages:
        props["queue.buffering.max.messages"] = int(k.max_queue_size_messages)
    acks = int(getattr(k.required_acks, "value", k.required_acks))
    props["request.required.acks"] = acks
    backoff = _ms(k.retry_backoff)
    if backoff > 0:
        props["retry.backoff.ms"] = backoff
        props["retry.backoff.max.ms"] = max(backoff, 1000)
    extra = dict(getattr(k, "librdkafka_config", None) or {})
    idempotence = str(extra.get("enable.idempotence", "")).lower()
    if not idempotence and acks == -1 and retries > 0:
        props["enable.idempotence"] = True
        idempotence = "true"
    if idempotence == "true":
        # librdkafka's rules for an idempotent producer
        inflight = props.get("max.in.flight.requests.per.connection")
        if inflight is not None and int(inflight) > 5:
            props["max.in.flight.requests.per.connection"] = 5
    else:
        props["queue.buffering.backpressure.threshold"] = 10
    _passthrough(config, "producer", props, _PRODUCER_RESERVED)
    return props


def connect_timeout(config: ConsumerConfig | ProducerConfig) -> float:
    """Return the seconds a new client waits for the cluster before failing (0: no wait)."""
    value = getattr(config.kafka, "connect_timeout", None)
    if value is None:
        value = DEFAULT_CONNECT_TIMEOUT
    return float(value.total_seconds())


def redacted(props: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``props`` with every secret value replaced by ``**********``."""
    return {
        k: ("**********" if ("password" in k or "secret" in k) and v else v)
        for k, v in props.items()
    }


_PROPERTY = re.compile(r'property[: ]*"?([a-z0-9_.]+)"?', re.IGNORECASE)


def config_error(
    exc: BaseException, config: ConsumerConfig | ProducerConfig, kind: str
) -> ConfigError:
    """Turn librdkafka's refusal of a configuration into a ConfigError naming the setting."""
    err = kafka_error(exc)
    text = err.str() if err is not None else str(exc)
    where = ""
    match = _PROPERTY.search(text)
    if match:
        prop = match.group(1)
        field = _FIELDS.get(prop)
        extra = getattr(config.kafka, "librdkafka_config", None) or {}
        if prop in extra:
            where = (
                f" (set through {_variable(config, kind, 'librdkafka_config')} / "
                "options.kafka_librdkafka_config)"
            )
        elif field is not None:
            where = f" (config kafka.{field}, variable {_variable(config, kind, field)})"
    return ConfigError(f"invalid Kafka {kind} configuration: {text}{where}")
