"""The Kafka sections of the consumer and producer configs, with their enums.

Fields keep the Go names in snake_case and the Go defaults. Beyond the
original: ``sasl`` and ``librdkafka_config`` (any other librdkafka property).
Translating these fields into librdkafka properties is the Kafka client's business.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    SecretStr,
    Strict,
)
from pydantic import model_validator as _model_validator

from streamprocessor.config.durations import parse_duration
from streamprocessor.config.fields import (
    Bool,
    Count,
    Duration,
    Int64,
    Secret,
    StrictStr,
    choice_validator,
    non_empty_items,
    text_problem,
)
from streamprocessor.config.section import REDACTED, Section

__all__ = [
    "ACK_CHOICES",
    "COMPRESSION_CHOICES",
    "CONSUMER_IGNORE_ERRORS",
    "DEBUG_FLAGS",
    "OFFSET_CHOICES",
    "PRODUCER_IGNORE_ERRORS",
    "PROTOCOL_CHOICES",
    "SASL_MECHANISMS",
    "SASL_MECHANISM_CHOICES",
    "Compression",
    "KafkaConsumerConfig",
    "KafkaDebug",
    "KafkaProducerConfig",
    "Offset",
    "PropertyMap",
    "Protocol",
    "SASLConfig",
    "SSLConfig",
    "is_secret_property",
    "parse_debug_flags",
    "redact_properties",
]

class Offset(StrEnum):
    """Where a consumer group without a committed offset starts (``auto.offset.reset``)."""

    BEGINNING = "beginning"
    END = "end"


class Protocol(StrEnum):
    """How the client talks to the brokers (``security.protocol``)."""

    PLAINTEXT = "plaintext"
    SSL = "ssl"
    SASL_PLAINTEXT = "sasl_plaintext"
    SASL_SSL = "sasl_ssl"


class Compression(StrEnum):
    """The producer's compression codec (``compression.codec``)."""

    NONE = "none"
    GZIP = "gzip"
    SNAPPY = "snappy"
    LZ4 = "lz4"
    ZSTD = "zstd"


#: Accepted lower-case names of each choice (aliases included) and the value stored.
OFFSET_CHOICES: Mapping[str, Offset] = {
    "beginning": Offset.BEGINNING,
    "end": Offset.END,
    "earliest": Offset.BEGINNING,
    "smallest": Offset.BEGINNING,
    "latest": Offset.END,
    "largest": Offset.END,
}
PROTOCOL_CHOICES: Mapping[str, Protocol] = {p.value: p for p in Protocol}
COMPRESSION_CHOICES: Mapping[str, Compression] = {c.value: c for c in Compression}
ACK_CHOICES: Mapping[str, int] = {
    "-1": -1, "0": 0, "1": 1, "all": -1, "none": 0, "leader": 1,
}  # fmt: skip
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER", "GSSAPI")
SASL_MECHANISM_CHOICES: Mapping[str, str] = {m.lower(): m for m in SASL_MECHANISMS}

#: librdkafka codes treated as transient by default, in the original's order.
CONSUMER_IGNORE_ERRORS: tuple[int, ...] = (
    -195, -187, -197, -196, -193, 5, 6, 7, 8, 9, 13, 19, 20, 25, -147,
)  # fmt: skip
#: The producer's list: the consumer's without ``_MAX_POLL_EXCEEDED`` (-147).
PRODUCER_IGNORE_ERRORS: tuple[int, ...] = CONSUMER_IGNORE_ERRORS[:-1]

#: The debug contexts, in the order librdkafka's ``debug`` string lists them.
DEBUG_FLAGS: tuple[str, ...] = (
    "broker", "cgrp", "consumer", "feature", "fetch", "generic", "interceptor",
    "metadata", "msg", "plugin", "protocol", "queue", "security", "topic",
)  # fmt: skip
_ALL_WORDS = frozenset({"all", "true", "1"})


def parse_debug_flags(value: str | Iterable[str]) -> frozenset[str]:
    """Turn ``"cgrp,fetch"`` (or an iterable of names) into the set of flags to enable.

    ``all``, ``true`` or ``1`` among them means every flag (``{"all"}``); names are
    case-insensitive; an unknown or empty name raises ``ValueError`` listing the valid ones.
    """
    if isinstance(value, str):
        if not value.strip():
            return frozenset()
        value = value.split(",")
    flags: set[str] = set()
    for raw in value:
        name = raw.strip().lower()
        if name in _ALL_WORDS:
            flags.add("all")
        elif name in DEBUG_FLAGS:
            flags.add(name)
        else:
            what = "an empty name" if not name else f"unknown debug flag {raw.strip()!r}"
            raise ValueError(f"{what}; valid: all, {', '.join(DEBUG_FLAGS)}")
    return frozenset({"all"}) if "all" in flags else frozenset(flags)


_SECRET_MARKS = ("password", "secret", "sasl.oauthbearer.config")


def is_secret_property(key: str) -> bool:
    """Tell whether a librdkafka property holds a secret (its value is never shown)."""
    k = key.lower()
    return any(mark in k for mark in _SECRET_MARKS)


def _property_map(value: object) -> object:
    if not isinstance(value, Mapping):
        return value
    out: dict[object, object] = {}
    for k, v in value.items():
        if not isinstance(k, str) or not k.strip():
            raise ValueError(f"property names must be non-empty strings, not {k!r}")
        if text_problem(k):
            raise ValueError(f"property name at index {len(out)}: {text_problem(k)}")
        if isinstance(v, bool):
            v = "true" if v else "false"
        elif isinstance(v, int | float):
            v = str(v)
        out[k.strip()] = v
    return out


#: librdkafka properties passed through as they are; numbers and bools become strings.
PropertyMap = Annotated[dict[str, StrictStr], BeforeValidator(_property_map)]


class KafkaDebug(Section):
    """librdkafka debug contexts (Go ``kafkaconfig.Debug``): ``all`` or any of 14 flags.

    Assign a string (``"cgrp,fetch"``, ``"all"``) or a set of names to a config's
    ``kafka.debug`` and it is turned into this model.
    """

    all: Bool = False
    broker: Bool = False
    cgrp: Bool = False
    consumer: Bool = False
    feature: Bool = False
    fetch: Bool = False
    generic: Bool = False
    interceptor: Bool = False
    metadata: Bool = False
    msg: Bool = False
    plugin: Bool = False
    protocol: Bool = False
    queue: Bool = False
    security: Bool = False
    topic: Bool = False

    @_model_validator(mode="before")
    @classmethod
    def _from_names(cls, data: Any) -> Any:
        if isinstance(data, str | set | frozenset | list | tuple):
            return dict.fromkeys(parse_debug_flags(data), True)
        return data

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # Only the flags that are set: 15 ``False`` would drown a config's repr.
        return ((k, v) for k, v in super().__repr_args__() if v)

    def flags(self) -> frozenset[str]:
        """Return the names of the flags that are set (``"all"`` included)."""
        return frozenset(n for n in ("all", *DEBUG_FLAGS) if getattr(self, n))

    def to_librdkafka(self) -> str:
        """Return librdkafka's ``debug`` value: ``all``, or the set flags in order, or ``""``."""
        if self.all:
            return "all"
        return ",".join(n for n in DEBUG_FLAGS if getattr(self, n))


class SSLConfig(Section):
    """TLS files and passwords (Go ``kafkaconfig.SSL``); the passwords are secrets."""

    ca_path: StrictStr = ""
    cert_path: StrictStr = ""
    crl_path: StrictStr = ""
    key_password: Secret = SecretStr("")
    key_path: StrictStr = ""
    keystore_password: Secret = SecretStr("")
    keystore_path: StrictStr = ""


def _mechanism(value: object) -> object:
    if isinstance(value, str) and not value.strip():
        return ""
    return choice_validator(SASL_MECHANISM_CHOICES, "SASL mechanism")(value)


class SASLConfig(Section):
    """SASL authentication (not in the original); ``mechanism`` is stored upper-case."""

    mechanism: Annotated[StrictStr, BeforeValidator(_mechanism)] = ""
    username: StrictStr = ""
    password: Secret = SecretStr("")


def redact_properties(props: Mapping[str, str]) -> dict[str, str]:
    """Copy librdkafka properties with every secret value replaced by ``********``."""
    return {k: (REDACTED if v and is_secret_property(k) else v) for k, v in props.items()}


def _acks(value: object) -> object:
    if isinstance(value, int) and not isinstance(value, bool) and value not in (-1, 0, 1):
        raise ValueError(f"{value} is not a required-acks value; expected -1 (all), 0 or 1")
    return choice_validator(ACK_CHOICES, "required-acks value")(value)


_Names = Annotated[list[StrictStr], AfterValidator(non_empty_items)]
_Codes = list[Int64]


def _duration(text: str) -> Any:
    return Field(default_factory=lambda: parse_duration(text))


class _KafkaCommon(Section):
    brokers: _Names = Field(default_factory=list)
    #: how long a new client waits for the brokers before failing (0: do not wait)
    connect_timeout: Duration = _duration("30s")
    debug: KafkaDebug = Field(default_factory=KafkaDebug)
    heartbeat_interval: Duration = _duration("1s")
    id: StrictStr = ""
    max_in_flight_requests: Count = 1_000_000
    security_protocol: Annotated[
        Protocol, BeforeValidator(choice_validator(PROTOCOL_CHOICES, "security protocol"))
    ] = Protocol.PLAINTEXT
    session_timeout: Duration = _duration("30s")
    ssl: SSLConfig = Field(default_factory=SSLConfig)
    sasl: SASLConfig = Field(default_factory=SASLConfig)
    statistics_interval: Duration = _duration("15m")
    librdkafka_config: PropertyMap = Field(default_factory=dict)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for key, value in super().__repr_args__():
            if key == "librdkafka_config":
                value = redact_properties(value)
            yield key, value

    def printable_value(self, key: str, value: Any) -> Any:
        """Show the debug flags as librdkafka's string and hide secret properties."""
        if isinstance(value, KafkaDebug):
            return value.to_librdkafka()
        if key == "librdkafka_config":
            return redact_properties(value)
        return super().printable_value(key, value)


class KafkaConsumerConfig(_KafkaCommon):
    """The Kafka consumer section (Go ``kafkaconfig.Consumer``): ``config.kafka``."""

    commit_interval: Duration = _duration("5s")
    group_id: StrictStr = ""
    ignore_errors: _Codes = Field(default_factory=lambda: list(CONSUMER_IGNORE_ERRORS))
    max_poll_interval: Duration = _duration("0s")
    offset_default: Int64 | None = None
    offset_initial: Annotated[
        Offset, BeforeValidator(choice_validator(OFFSET_CHOICES, "start offset"))
    ] = Offset.BEGINNING
    topics: _Names = Field(default_factory=list)


class KafkaProducerConfig(_KafkaCommon):
    """The Kafka producer section (Go ``kafkaconfig.Producer``): ``config.kafka``."""

    batch_message_size: Count = 10_000
    compression_codec: Annotated[
        Compression, BeforeValidator(choice_validator(COMPRESSION_CHOICES, "compression codec"))
    ] = Compression.LZ4
    ignore_errors: _Codes = Field(default_factory=lambda: list(PRODUCER_IGNORE_ERRORS))
    max_delivery_retries: Count = 5
    max_queue_buffer_duration: Duration = _duration("500ms")
    max_queue_size_kbytes: Count = 2_097_151
    max_queue_size_messages: Count = 1_000_000
    required_acks: Annotated[int, Strict(), BeforeValidator(_acks), AfterValidator(_acks)] = -1
    retry_backoff: Duration = _duration("100ms")
    topic: StrictStr = ""
