"""What a node is told: its ``server.properties`` (listeners, TLS, SASL) and log4j2 setup."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Final

from streamprocessor.testing.kafka_broker._common import _HOST
from streamprocessor.testing.kafka_broker.certificates import TlsFiles
from streamprocessor.testing.kafka_broker.node import KafkaNode

__all__ = ["LISTENER_NAMES", "SCRAM_MECHANISMS"]

LISTENER_NAMES: Final = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
"""Client listeners a :class:`KafkaCluster` can open (each with the protocol of its name)."""

SCRAM_MECHANISMS: Final = ("SCRAM-SHA-256", "SCRAM-SHA-512")
"""SASL mechanisms the SASL listeners accept; every user of ``scram_users`` has both."""

_SCRAM_NAME = re.compile(r"^[A-Za-z0-9._-]+$")
_SCRAM_PASSWORD = re.compile(r"^[^,\[\]=\s\\]+$")

_LOG4J2_PROPERTIES: Final = """\
# Written by streamprocessor.testing.kafka_broker.
status = warn
shutdownHook = disable
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = ${sys:kafka.logs.dir}/server.log
appender.file.append = true
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
logger.cleaner.name = kafka.log.LogCleaner
logger.cleaner.level = WARN
"""


def _prop_value(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _format_properties(props: Mapping[str, str]) -> str:
    lines = ["# Written by streamprocessor.testing.kafka_broker."]
    lines += [f"{key}={value}" for key, value in props.items()]
    return "\n".join(lines) + "\n"


def _server_properties(
    node: KafkaNode,
    *,
    node_count: int,
    voters: str,
    auto_create_topics: bool,
    listeners: Sequence[str],
    advertise: Mapping[str, int],
    tls: TlsFiles | None,
    ssl_client_auth: str,
    scram: bool,
    overrides: Mapping[str, str],
) -> dict[str, str]:
    """The ``server.properties`` entries of *node* in a cluster of *node_count* nodes.

    *listeners* are the client listeners besides ``PLAINTEXT`` (``KafkaCluster.listeners``
    without it), *advertise* the proxy port of each advertised one, *scram* whether the
    cluster has SCRAM users; *overrides* are applied last.
    """
    single = node_count == 1
    replicas = str(min(node_count, 3))
    min_isr = "2" if node_count >= 3 else "1"
    internal_partitions = "1" if single else "3"
    props: dict[str, str] = {
        "process.roles": "broker,controller",
        "node.id": str(node.node_id),
        "listeners": (
            f"PLAINTEXT://{_HOST}:{node.port},CONTROLLER://{_HOST}:{node.controller_port}"
        ),
        "advertised.listeners": f"PLAINTEXT://{_HOST}:{node.port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(node.data_dir),
        "auto.create.topics.enable": _prop_value(auto_create_topics),
        "num.partitions": "1" if single else "3",
        "default.replication.factor": replicas,
        "min.insync.replicas": min_isr,
        "offsets.topic.num.partitions": internal_partitions,
        "offsets.topic.replication.factor": replicas,
        "transaction.state.log.num.partitions": internal_partitions,
        "transaction.state.log.replication.factor": replicas,
        "transaction.state.log.min.isr": min_isr,
        "share.coordinator.state.topic.num.partitions": internal_partitions,
        "share.coordinator.state.topic.replication.factor": replicas,
        "share.coordinator.state.topic.min.isr": min_isr,
        "group.initial.rebalance.delay.ms": "0",
        "group.min.session.timeout.ms": "1000",
        "num.network.threads": "2",
        "num.io.threads": "2",
        "num.replica.fetchers": "1",
        "num.recovery.threads.per.data.dir": "1",
        "background.threads": "2",
        "log.cleaner.threads": "1",
        "log.cleaner.dedupe.buffer.size": str(2 * 1024 * 1024),
        "log.cleaner.io.buffer.size": str(256 * 1024),
        # A killed node is fenced (and leaves every ISR) after 3 s instead of 9 s. Its
        # restart also waits for that: the controller refuses a new registration of a
        # broker id whose old session has not expired (DUPLICATE_BROKER_REGISTRATION).
        "broker.heartbeat.interval.ms": "500",
        "broker.session.timeout.ms": "3000",
    }
    if single:
        props["controller.quorum.bootstrap.servers"] = f"{_HOST}:{node.controller_port}"
    else:
        props["controller.quorum.voters"] = voters
    props.update(
        _security_properties(node, listeners, advertise, tls, ssl_client_auth, scram=scram)
    )
    props.update(overrides)
    return props


def _security_properties(
    node: KafkaNode,
    extra: Sequence[str],
    advertise: Mapping[str, int],
    tls: TlsFiles | None,
    ssl_client_auth: str,
    *,
    scram: bool,
) -> dict[str, str]:
    """Listener entries and TLS/SASL settings for the ``SSL`` and ``SASL_*`` listeners."""
    if not extra:
        return {}
    listeners = [f"{name}://{_HOST}:{node.listener_ports[name]}" for name in extra]
    advertised = [
        f"{name}://{_HOST}:{advertise.get(name, node.listener_ports[name])}" for name in extra
    ]
    props = {
        "listeners": f"PLAINTEXT://{_HOST}:{node.port},"
        f"CONTROLLER://{_HOST}:{node.controller_port}," + ",".join(listeners),
        "advertised.listeners": f"PLAINTEXT://{_HOST}:{node.port}," + ",".join(advertised),
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,"
        + ",".join(f"{name}:{'PLAINTEXT' if name in advertise else name}" for name in extra),
    }
    if tls is not None:
        props.update(
            {
                "ssl.keystore.type": "PKCS12",
                "ssl.keystore.location": str(tls.broker_keystore),
                "ssl.keystore.password": tls.broker_keystore_password,
                "ssl.key.password": tls.broker_keystore_password,
                "ssl.truststore.type": "PEM",
                "ssl.truststore.location": str(tls.ca_cert),
                "listener.name.ssl.ssl.client.auth": ssl_client_auth,
            }
        )
    if scram:
        sasl = "sasl_ssl" if tls is not None else "sasl_plaintext"
        props["sasl.enabled.mechanisms"] = ",".join(SCRAM_MECHANISMS)
        if tls is not None:
            props[f"listener.name.{sasl}.ssl.client.auth"] = "none"
        for mechanism in SCRAM_MECHANISMS:
            props[f"listener.name.{sasl}.{mechanism.lower()}.sasl.jaas.config"] = (
                "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            )
    return props
