"""Run a real Apache Kafka broker (KRaft mode) for tests, from Maven Central jars.

The broker is started from the ``kafka_2.13`` jars, which Maven resolves once into a cache
directory (:func:`ensure_jars`). No Docker and no Kafka tarball are needed: only ``mvn`` (for the
first fetch) and a Java 17+ runtime.

Typical use in a test suite::

    from streamprocessor.testing.kafka_broker import KafkaCluster

    with KafkaCluster() as kafka:          # one combined broker+controller node
        run_tests(kafka.bootstrap_servers) # "127.0.0.1:PORT"

    with KafkaCluster(nodes=3) as kafka:   # three nodes, static controller quorum
        kafka.kill(2)                      # SIGKILL node 2
        kafka.restart(2)                   # start it again on the same data, wait until ready

    tls = create_test_certificates(tmp_dir)          # a CA, broker and client certificates
    with KafkaCluster(tls=tls, scram_users={"alice": "alice-secret"}) as kafka:
        kafka.bootstrap_servers_for("SSL")           # TLS (client certificate required)
        kafka.bootstrap_servers_for("SASL_SSL")      # TLS + SCRAM-SHA-256/512 logins

From a shell (the ``scripts/kafka-broker`` wrapper runs the same)::

    python -m streamprocessor.testing.kafka_broker fetch
    python -m streamprocessor.testing.kafka_broker start --dir /tmp/kafka &   # prints the address
    export KAFKA=$(python -m streamprocessor.testing.kafka_broker address --dir /tmp/kafka)
    python -m streamprocessor.testing.kafka_broker stop --dir /tmp/kafka

``address`` waits until the cluster that ``start --dir`` runs is ready and prints its
bootstrap address.

``start --dir DIR`` writes the state file ``DIR/kafka-broker.json`` (addresses, process ids
and, with ``--tls``, the paths of the certificates). With ``--tls`` the client key's and the
broker keystore's passwords are test-only secrets of throw-away certificates; they are kept
out of the state file, in ``DIR/tls/client.key.password`` and ``DIR/tls/broker.p12.password``
(whose paths the state file gives). The state file, the password files and each node's
``server.properties`` (which holds the keystore password) are readable by the owner only.

Only processes this package started are ever signalled. This package uses the standard library
only (and the ``openssl`` command for :func:`create_test_certificates`), so it can be imported
where no Kafka client is installed.

The package's modules, by concern: ``jars`` (Maven fetch, the classpath), ``certificates``
(TLS material), ``config`` (``server.properties``), ``node`` and ``cluster`` (the broker
processes), ``cli`` (the command line, run by ``__main__``) and ``errors``. Import the names
from the package itself; it re-exports every public one.
"""

from __future__ import annotations

from streamprocessor.testing.kafka_broker.certificates import TlsFiles, create_test_certificates
from streamprocessor.testing.kafka_broker.cli import COMMAND_ENV as COMMAND_ENV
from streamprocessor.testing.kafka_broker.cli import STATE_FILE as STATE_FILE
from streamprocessor.testing.kafka_broker.cli import main
from streamprocessor.testing.kafka_broker.cluster import CDS_ENV as CDS_ENV
from streamprocessor.testing.kafka_broker.cluster import DEFAULT_START_TIMEOUT, KafkaCluster
from streamprocessor.testing.kafka_broker.cluster import STARTED_MESSAGE as STARTED_MESSAGE
from streamprocessor.testing.kafka_broker.config import LISTENER_NAMES as LISTENER_NAMES
from streamprocessor.testing.kafka_broker.config import SCRAM_MECHANISMS as SCRAM_MECHANISMS
from streamprocessor.testing.kafka_broker.errors import (
    BrokerStartError,
    CertificateError,
    JarFetchError,
    KafkaBrokerError,
)
from streamprocessor.testing.kafka_broker.jars import CACHE_ENV as CACHE_ENV
from streamprocessor.testing.kafka_broker.jars import DEPENDENCY_PLUGIN as DEPENDENCY_PLUGIN
from streamprocessor.testing.kafka_broker.jars import KAFKA_VERSION, default_cache_dir, ensure_jars
from streamprocessor.testing.kafka_broker.jars import LOG4J_VERSION as LOG4J_VERSION
from streamprocessor.testing.kafka_broker.jars import SLF4J_VERSION as SLF4J_VERSION
from streamprocessor.testing.kafka_broker.node import KafkaNode

__all__ = [
    "DEFAULT_START_TIMEOUT",
    "KAFKA_VERSION",
    "BrokerStartError",
    "CertificateError",
    "JarFetchError",
    "KafkaBrokerError",
    "KafkaCluster",
    "KafkaNode",
    "TlsFiles",
    "create_test_certificates",
    "default_cache_dir",
    "ensure_jars",
    "main",
]
