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

Only processes this module started are ever signalled. This module uses the standard library
only (and the ``openssl`` command for :func:`create_test_certificates`), so it can be imported
where no Kafka client is installed.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import random
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from streamprocessor.stream.errors import StreamProcessorError

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

KAFKA_VERSION: Final = "4.3.1"
"""Version of ``org.apache.kafka:kafka_2.13`` that is fetched and run."""

LOG4J_VERSION: Final = "2.25.4"
"""Version of the log4j2 artifacts, pinned through ``log4j-bom``."""

SLF4J_VERSION: Final = "1.7.36"
"""Kafka 4.x logs through SLF4J 1.7; an SLF4J 2 API would silently turn logging off."""

DEPENDENCY_PLUGIN: Final = "org.apache.maven.plugins:maven-dependency-plugin:3.6.1"
"""The Maven plugin (pinned) that copies the resolved jars into a flat folder."""

DEFAULT_START_TIMEOUT: Final = 120.0
"""Seconds to wait for a node to become ready before giving up."""

COMMAND_ENV: Final = "STREAMPROCESSOR_KAFKA_BROKER_COMMAND"
"""Set by ``scripts/kafka-broker``: the command that the printed instructions name."""

CACHE_ENV: Final = "STREAMPROCESSOR_KAFKA_CACHE"
"""Environment variable that overrides the jar cache directory."""

STARTED_MESSAGE: Final = "Kafka Server started"
"""Line the broker logs (``KafkaBroker.STARTED_MESSAGE``) once it serves clients."""

CDS_ENV: Final = "STREAMPROCESSOR_KAFKA_CDS"
"""Set to ``0`` to turn the JVM class-data-sharing archive off (see :class:`KafkaCluster`)."""

STATE_FILE: Final = "kafka-broker.json"
"""Name of the state file the ``start`` command writes into its directory.

Created with mode 0600: it describes a test cluster (addresses, process ids, with ``--tls``
the certificate paths and the paths of the password files). It holds no password itself,
but it points at test-only secrets, so it is kept private anyway.
"""

_DIR_MARKER: Final = ".streamprocessor-kafka"
_JARS_MARKER: Final = ".complete"
_HOST: Final = "127.0.0.1"

_POM_TEMPLATE: Final = """\
<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by streamprocessor.testing.kafka_broker: resolves the jars a Kafka broker needs. -->
<project xmlns="http://maven.apache.org/POM/4.0.0"
         xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
         xsi:schemaLocation="http://maven.apache.org/POM/4.0.0 \
https://maven.apache.org/xsd/maven-4.0.0.xsd">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.streamprocessor.testing</groupId>
  <artifactId>kafka-broker-runtime</artifactId>
  <version>0</version>
  <packaging>pom</packaging>

  <properties>
    <kafka.version>{kafka}</kafka.version>
    <log4j2.version>{log4j}</log4j2.version>
  </properties>

  <dependencyManagement>
    <dependencies>
      <dependency>
        <groupId>org.apache.logging.log4j</groupId>
        <artifactId>log4j-bom</artifactId>
        <version>${{log4j2.version}}</version>
        <type>pom</type>
        <scope>import</scope>
      </dependency>
      <dependency>
        <groupId>org.slf4j</groupId>
        <artifactId>slf4j-api</artifactId>
        <version>{slf4j}</version>
      </dependency>
    </dependencies>
  </dependencyManagement>

  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>${{kafka.version}}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-core</artifactId>
      <scope>runtime</scope>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <scope>runtime</scope>
    </dependency>
  </dependencies>
</project>
"""

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


class KafkaBrokerError(StreamProcessorError, RuntimeError):
    """Base class of the errors this module raises (also a RuntimeError, as it was)."""


class JarFetchError(KafkaBrokerError):
    """Maven could not resolve the Kafka jars; the message ends with Maven's output."""


class BrokerStartError(KafkaBrokerError):
    """A node could not be formatted or did not become ready; the message has its log tail."""


class CertificateError(KafkaBrokerError):
    """``openssl`` is missing or failed while making test certificates."""


# --------------------------------------------------------------------------------------------
# Jars
# --------------------------------------------------------------------------------------------


def default_cache_dir() -> Path:
    """Return the jar cache directory: ``$STREAMPROCESSOR_KAFKA_CACHE`` or a per-user default."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "streamprocessor" / f"kafka-{KAFKA_VERSION}"


def _pom_text() -> str:
    return _POM_TEMPLATE.format(kafka=KAFKA_VERSION, log4j=LOG4J_VERSION, slf4j=SLF4J_VERSION)


def _tail(text: str, lines: int = 40) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)  # Maven colours some output even with -B
    return "\n".join(text.rstrip().splitlines()[-lines:])


def ensure_jars(cache_dir: Path | None = None) -> Path:
    """Make sure the broker's jars are in ``<cache_dir>/libs`` and return that folder.

    The first call writes a ``pom.xml`` into *cache_dir* and runs Maven's
    ``copy-dependencies`` goal; later calls only check a marker file and return at once (no
    Maven, no network). Concurrent callers are serialised with a file lock.

    Raises:
        JarFetchError: ``mvn`` is missing or failed; the message ends with its output.

    """
    cache = (cache_dir if cache_dir is not None else default_cache_dir()).expanduser().resolve()
    libs = cache / "libs"
    pom = _pom_text()
    digest = hashlib.sha256(pom.encode()).hexdigest()
    marker = libs / _JARS_MARKER
    if _marker_matches(marker, digest):
        return libs
    cache.mkdir(parents=True, exist_ok=True)
    with _file_lock(cache / ".lock"):
        if _marker_matches(marker, digest):  # another process fetched while we waited
            return libs
        mvn = shutil.which("mvn")
        if mvn is None:
            raise JarFetchError(
                f"cannot fetch Kafka {KAFKA_VERSION} jars: 'mvn' is not on PATH "
                f"(install Maven, or fill {libs} and write {marker})"
            )
        (cache / "pom.xml").write_text(pom, encoding="utf-8")
        staging = Path(tempfile.mkdtemp(prefix="libs-", dir=cache))
        try:
            cmd = [
                mvn,
                "-B",
                "-q",
                "-f",
                str(cache / "pom.xml"),
                f"{DEPENDENCY_PLUGIN}:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={staging}",
            ]
            try:
                done = subprocess.run(
                    cmd,
                    cwd=cache,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    timeout=900,
                    check=False,
                )
            except subprocess.TimeoutExpired as exc:
                out = exc.output if isinstance(exc.output, str) else ""
                raise JarFetchError(
                    f"mvn timed out fetching Kafka {KAFKA_VERSION} jars:\n{_tail(out)}"
                ) from exc
            main_jar = staging / f"kafka_2.13-{KAFKA_VERSION}.jar"
            if done.returncode != 0 or not main_jar.is_file():
                raise JarFetchError(
                    f"mvn failed (exit {done.returncode}) fetching Kafka {KAFKA_VERSION} jars "
                    f"into {cache}:\n{_tail(done.stdout)}"
                )
            (staging / _JARS_MARKER).write_text(digest + "\n", encoding="utf-8")
            if libs.exists():
                shutil.rmtree(libs)
            staging.rename(libs)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
    return libs


def _marker_matches(marker: Path, digest: str) -> bool:
    try:
        return marker.read_text(encoding="utf-8").strip() == digest
    except OSError:
        return False


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --------------------------------------------------------------------------------------------
# Ports, java, helpers
# --------------------------------------------------------------------------------------------


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((_HOST, port))
        except OSError:
            return False
    return True


def _free_ports(count: int, exclude: Sequence[int] = ()) -> list[int]:
    """Probe *count* distinct free ports on 127.0.0.1.

    Ports are drawn below the kernel's ephemeral range when possible, so that no outgoing
    client connection can take a broker's port while the broker is down between a kill and a
    restart.
    """
    low, _high = _ephemeral_range()
    lo, hi = (20000, low - 1) if low > 21000 else (1024, 65535)
    chosen: list[int] = []
    rng = random.Random()
    for _ in range(2000):
        port = rng.randint(lo, hi)
        if port in chosen or port in exclude:
            continue
        if _port_is_free(port):
            chosen.append(port)
            if len(chosen) == count:
                return chosen
    raise KafkaBrokerError(f"could not find {count} free ports on {_HOST}")


def _port_accepts(port: int) -> bool:
    try:
        with socket.create_connection((_HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def _java_executable() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = Path(java_home) / "bin" / "java"
        if candidate.is_file():
            return str(candidate)
    found = shutil.which("java")
    if found is None:
        raise KafkaBrokerError("cannot run Kafka: no 'java' on PATH and no JAVA_HOME (Java 17+)")
    return found


def _new_cluster_id() -> str:
    """Return a random cluster id in Kafka's format (22 chars of URL-safe base64).

    Like Kafka's own ``Uuid.randomUuid``, it never starts with ``-``: StorageTool's argument
    parser would take such an id for an option.
    """
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode("ascii")
        if not text.startswith("-"):
            return text


def _read_tail(path: Path, lines: int = 40) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            data = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return f"(no {path.name})"
    return _tail(data, lines) or f"({path.name} is empty)"


def _log_errors(path: Path, offset: int, limit: int = 8) -> str:
    """ERROR/FATAL entries of a log4j file from byte *offset*, each with its exception line."""
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            text = handle.read(8 * 1024 * 1024).decode("utf-8", errors="replace")
    except OSError:
        return ""
    found: list[str] = []
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if line.startswith("[") and ("] ERROR " in line or "] FATAL " in line):
            found.append(line)
            following = lines[index + 1] if index + 1 < len(lines) else ""
            if following and not following.startswith(("[", "\tat ")):
                found.append("    " + following)
            if len(found) >= 2 * limit:
                break
    return "\n".join(found)


def _write_private(path: Path, text: str) -> None:
    """Write *text* to *path* atomically, readable and writable by the owner only (0600).

    The file is created with that mode (``os.open``), never widened and narrowed later, so
    no other user can open it in between; it replaces *path* in one rename.
    """
    tmp = path.with_name(path.name + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()  # O_EXCL below: a leftover could carry a wider mode
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    tmp.replace(path)


def _format_properties(props: Mapping[str, str]) -> str:
    lines = ["# Written by streamprocessor.testing.kafka_broker."]
    lines += [f"{key}={value}" for key, value in props.items()]
    return "\n".join(lines) + "\n"


def _pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie (exited, not yet reaped by its parent) does not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # (no /proc: trust the signal check)
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


# Clusters that are still running when the interpreter exits are stopped (best effort).
_LIVE_CLUSTERS: weakref.WeakSet[KafkaCluster] = weakref.WeakSet()


@atexit.register
def _stop_live_clusters() -> None:
    for cluster in list(_LIVE_CLUSTERS):
        with contextlib.suppress(Exception):
            cluster.stop(timeout=15.0)


# --------------------------------------------------------------------------------------------
# TLS certificates for tests
# --------------------------------------------------------------------------------------------

LISTENER_NAMES: Final = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
"""Client listeners a :class:`KafkaCluster` can open (each with the protocol of its name)."""

SCRAM_MECHANISMS: Final = ("SCRAM-SHA-256", "SCRAM-SHA-512")
"""SASL mechanisms the SASL listeners accept; every user of ``scram_users`` has both."""

_SCRAM_NAME = re.compile(r"^[A-Za-z0-9._-]+$")
_SCRAM_PASSWORD = re.compile(r"^[^,\[\]=\s\\]+$")


@dataclasses.dataclass(frozen=True)
class TlsFiles:
    """PEM and PKCS#12 files for TLS listeners and clients (:func:`create_test_certificates`).

    Every certificate is signed by one throw-away CA; the broker's names ``IP:<ip>`` as
    subjectAltName, so clients verify it with hostname verification on (librdkafka's
    default). Pass the client paths to ``options.kafka_ssl`` or the ``*_KAFKA_SSL_*``
    variables.
    """

    directory: Path
    """Folder holding every file."""
    ca_cert: Path
    """The CA certificate (PEM): what clients trust (``ssl.ca.location``)."""
    broker_cert: Path
    """The broker's certificate (PEM), for reference."""
    broker_keystore: Path
    """The broker's key and certificate chain (PKCS#12), for ``ssl.keystore.location``."""
    broker_keystore_password: str
    """Password of :attr:`broker_keystore`."""
    client_cert: Path
    """A client certificate (PEM) for mutual TLS (``ssl.certificate.location``)."""
    client_key: Path
    """The client's private key (PEM, encrypted with :attr:`client_key_password`)."""
    client_key_password: str
    """Password of :attr:`client_key` (``ssl.key.password``)."""


def _openssl(args: Sequence[str], cwd: Path, secret: str | None = None) -> None:
    """Run openssl in ``cwd``; raise :class:`CertificateError` when it fails.

    ``secret`` is passed as ``$SP_OPENSSL_PASS`` (``env:SP_OPENSSL_PASS`` in ``args``), not
    on the command line, which every user of the machine can read.
    """
    openssl = shutil.which("openssl")
    if openssl is None:
        raise CertificateError("cannot make test certificates: no 'openssl' on PATH")
    env = None if secret is None else {**os.environ, "SP_OPENSSL_PASS": secret}
    try:
        done = subprocess.run(
            [openssl, *args],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=60,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise CertificateError(f"openssl {args[0]} timed out") from exc
    if done.returncode != 0:
        raise CertificateError(
            f"openssl {args[0]} failed (exit {done.returncode}):\n{_tail(done.stdout)}"
        )


def create_test_certificates(
    directory: Path | str, *, ip: str = _HOST, days: int = 30, name: str = "streamprocessor"
) -> TlsFiles:
    """Make a CA, a broker certificate for ``IP:<ip>`` and a client certificate in *directory*.

    Keys are EC P-256 (fast to make). The broker's key and chain go into a PKCS#12 keystore,
    the client's key is a PEM file encrypted with a random password. Passwords are random
    and returned in the :class:`TlsFiles`; files that hold keys are readable by the owner
    only.

    Raises:
        CertificateError: ``openssl`` is missing or failed.

    """
    folder = Path(directory).expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    keystore_password = secrets.token_urlsafe(12)
    client_password = secrets.token_urlsafe(12)
    curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
    (folder / "broker.ext").write_text(
        f"basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
        f"extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:{ip}\n"
    )
    (folder / "client.ext").write_text(
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=clientAuth\n"
    )
    old_umask = os.umask(0o077)
    try:
        _openssl(
            ["req", "-x509", "-new", *curve, "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
             "-days", str(days), "-subj", f"/CN={name} test CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
            folder,
        )  # fmt: skip
        _openssl(
            ["req", "-new", *curve, "-nodes", "-keyout", "broker.key", "-out", "broker.csr",
             "-subj", f"/CN={ip}"],
            folder,
        )  # fmt: skip
        _openssl(
            ["x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "broker.pem", "-days", str(days),
             "-extfile", "broker.ext"],
            folder,
        )  # fmt: skip
        _openssl(
            ["pkcs12", "-export", "-in", "broker.pem", "-inkey", "broker.key",
             "-certfile", "ca.pem", "-name", "broker", "-out", "broker.p12",
             "-passout", "env:SP_OPENSSL_PASS"],
            folder,
            keystore_password,
        )  # fmt: skip
        _openssl(
            ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-aes-256-cbc", "-pass", "env:SP_OPENSSL_PASS", "-out", "client.key"],
            folder,
            client_password,
        )  # fmt: skip
        _openssl(
            ["req", "-new", "-key", "client.key", "-passin", "env:SP_OPENSSL_PASS",
             "-out", "client.csr", "-subj", f"/CN={name} test client"],
            folder,
            client_password,
        )  # fmt: skip
        _openssl(
            ["x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "client.pem", "-days", str(days),
             "-extfile", "client.ext"],
            folder,
        )  # fmt: skip
    finally:
        os.umask(old_umask)
    return TlsFiles(
        directory=folder,
        ca_cert=folder / "ca.pem",
        broker_cert=folder / "broker.pem",
        broker_keystore=folder / "broker.p12",
        broker_keystore_password=keystore_password,
        client_cert=folder / "client.pem",
        client_key=folder / "client.key",
        client_key_password=client_password,
    )


# --------------------------------------------------------------------------------------------
# Nodes and clusters
# --------------------------------------------------------------------------------------------


class KafkaNode:
    """One combined broker+controller JVM of a :class:`KafkaCluster`.

    Nodes are created by :class:`KafkaCluster`; use its methods to start, kill and restart
    them. The attributes here describe where the node listens and keeps its files.
    """

    def __init__(
        self,
        node_id: int,
        port: int,
        controller_port: int,
        directory: Path,
        listener_ports: Mapping[str, int] | None = None,
    ) -> None:
        self.node_id: Final = node_id
        """The node's ``node.id`` (1, 2, ...)."""
        self.port: Final = port
        """Client (PLAINTEXT) port on 127.0.0.1."""
        self.controller_port: Final = controller_port
        """KRaft controller port on 127.0.0.1."""
        self.directory: Final = directory
        """Holds ``server.properties``, ``log4j2.properties``, ``data/`` and ``logs/``."""
        self.listener_ports: Final[dict[str, int]] = {"PLAINTEXT": port, **(listener_ports or {})}
        """Client port of every listener by name: ``PLAINTEXT``, and ``SSL``, ``SASL_SSL``,
        ``SASL_PLAINTEXT`` when the cluster has them."""
        self._proc: subprocess.Popen[bytes] | None = None
        self._cds_dump: Path | None = None
        self._log_offset = 0

    @property
    def properties_file(self) -> Path:
        """The node's ``server.properties``."""
        return self.directory / "server.properties"

    @property
    def data_dir(self) -> Path:
        """The node's ``log.dirs`` (topic data and the metadata log)."""
        return self.directory / "data"

    @property
    def logs_dir(self) -> Path:
        """Folder of ``server.log`` (log4j2) and ``stdout.log`` (JVM output)."""
        return self.directory / "logs"

    @property
    def server_log(self) -> Path:
        """The broker's own log file."""
        return self.logs_dir / "server.log"

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT`` of this node's client listener."""
        return f"{_HOST}:{self.port}"

    def address_of(self, listener: str) -> str:
        """``127.0.0.1:PORT`` of this node's listener *listener* (``SSL``, ``SASL_SSL``, ...)."""
        try:
            return f"{_HOST}:{self.listener_ports[listener.upper()]}"
        except KeyError:
            raise KeyError(
                f"node {self.node_id} has no {listener!r} listener; it has "
                f"{sorted(self.listener_ports)}"
            ) from None

    @property
    def pid(self) -> int | None:
        """PID of the running JVM, or ``None`` when the node is not running."""
        if self._proc is None or self._proc.poll() is not None:
            return None
        return self._proc.pid

    @property
    def running(self) -> bool:
        """Whether the node's JVM is alive."""
        return self.pid is not None

    def log_tail(self, lines: int = 15) -> str:
        """Describe the current run for an error message.

        Returns the ERROR/FATAL lines the node logged since it was last launched (with each
        exception's message line), then the last *lines* of ``server.log`` and of the JVM's
        own output.
        """
        errors = _log_errors(self.server_log, self._log_offset)
        return (
            f"--- errors in {self.server_log} ---\n{errors or '(none)'}\n"
            f"--- end of {self.server_log} ---\n{_read_tail(self.server_log, lines)}\n"
            f"--- end of {self.logs_dir / 'stdout.log'} ---\n"
            f"{_read_tail(self.logs_dir / 'stdout.log', lines)}"
        )

    def __repr__(self) -> str:
        return f"KafkaNode(id={self.node_id}, address={self.address!r}, pid={self.pid})"


class KafkaCluster:
    """A local Kafka cluster of 1 or 3 combined broker+controller nodes on 127.0.0.1.

    Args:
        nodes: how many nodes; 1 formats a standalone (dynamic) quorum, more use static
            ``controller.quorum.voters`` with every node a voter.
        port: client port of node 1 (node *n* gets ``port + n - 1``); probed when ``None``.
        data_dir: where the nodes keep their files; a fresh temporary directory (removed by
            :meth:`stop`) when ``None``. A directory given here is kept, but the node folders
            this class made in it before are wiped when the cluster is formatted again.
        auto_create_topics: value of ``auto.create.topics.enable``.
        overrides: extra ``server.properties`` entries, applied last (they win).
        heap: ``-Xmx`` of each broker JVM (``-Xms`` is 128m).
        jvm_options: extra JVM options, appended to the defaults.
        start_timeout: seconds each start or restart may take before it fails.
        cache_dir: jar cache, see :func:`ensure_jars`.
        cds: use a class-data-sharing archive of the broker's classes, kept next to the jars.
            While there is none, one node of the cluster writes it when that node exits
            cleanly (not after :meth:`kill`); later JVMs map it and start about a second
            faster each. ``False`` (or ``STREAMPROCESSOR_KAFKA_CDS=0``) turns this off.
        tls: certificates (:func:`create_test_certificates`); with them every node also
            opens an ``SSL`` listener, and a ``SASL_SSL`` one when *scram_users* is given.
        ssl_client_auth: ``ssl.client.auth`` of the ``SSL`` listener: ``required`` (mutual
            TLS: clients present a certificate signed by the test CA), ``requested`` or
            ``none``. The ``SASL_SSL`` listener never asks for a client certificate.
        scram_users: user name → password of SCRAM-SHA-256 and SCRAM-SHA-512 logins,
            written into the storage when it is formatted; with them every node also opens
            a ``SASL_SSL`` listener (with *tls*) or a ``SASL_PLAINTEXT`` one (without).
        advertise: listener name → port: one node only. Each name opens one more PLAINTEXT
            listener, which tells its clients to connect to ``127.0.0.1:port`` instead of
            its own port, so that a proxy listening there (a
            :class:`~streamprocessor.testing.faultproxy.FaultProxy` forwarding to
            ``node.address_of(name)``) carries all their traffic, metadata included.

    The ``PLAINTEXT`` listener is always there (brokers talk to each other over it), and
    :attr:`bootstrap_servers` names it; :meth:`bootstrap_servers_for` names the others.
    ``auto_create_topics`` applies to every listener: it is a broker-wide setting.

    """

    def __init__(
        self,
        nodes: int = 1,
        *,
        port: int | None = None,
        data_dir: Path | str | None = None,
        auto_create_topics: bool = True,
        overrides: Mapping[str, str | int | bool] | None = None,
        heap: str = "384m",
        jvm_options: Sequence[str] = (),
        start_timeout: float = DEFAULT_START_TIMEOUT,
        cache_dir: Path | None = None,
        cds: bool = True,
        tls: TlsFiles | None = None,
        ssl_client_auth: str = "required",
        scram_users: Mapping[str, str] | None = None,
        advertise: Mapping[str, int] | None = None,
    ) -> None:
        if nodes < 1:
            raise ValueError("nodes must be at least 1")
        if advertise and nodes != 1:
            raise ValueError("advertise needs nodes=1 (one proxy port per listener)")
        for name in advertise or {}:
            if not re.match(r"^[A-Z][A-Z0-9_]*$", name) or name in LISTENER_NAMES:
                raise ValueError(
                    f"advertised listener name {name!r}: use upper-case letters, digits and "
                    f"'_', other than {', '.join(LISTENER_NAMES)}"
                )
        self._advertise = dict(advertise or {})
        if ssl_client_auth not in ("required", "requested", "none"):
            raise ValueError("ssl_client_auth must be 'required', 'requested' or 'none'")
        for user, password in (scram_users or {}).items():
            if not _SCRAM_NAME.match(user):
                raise ValueError(f"SCRAM user name {user!r}: use letters, digits, '.', '_', '-'")
            if not _SCRAM_PASSWORD.match(password):
                raise ValueError(
                    f"SCRAM password of {user!r} must be non-empty, without spaces, ',', '=', "
                    "'[', ']' or '\\' (the storage tool's syntax)"
                )
        self.tls: Final = tls
        """The certificates of the TLS listeners, or ``None``."""
        self._ssl_client_auth = ssl_client_auth
        self._scram_users = dict(scram_users or {})
        self.node_count: Final = nodes
        """Number of nodes."""
        self.auto_create_topics: Final = auto_create_topics
        """Whether brokers create topics on first use."""
        self.start_timeout = start_timeout
        """Seconds a start or restart may take."""
        self._requested_port = port
        self._given_dir = Path(data_dir).expanduser().resolve() if data_dir is not None else None
        self._overrides = {k: _prop_value(v) for k, v in (overrides or {}).items()}
        self._heap = heap
        self._jvm_options = list(jvm_options)
        self._cache_dir = cache_dir
        self._cds = cds and os.environ.get(CDS_ENV, "1").strip().lower() not in ("0", "false", "no")
        self._cds_archive: Path | None = None
        self._root: Path | None = None
        self._owns_root = False
        self._nodes: dict[int, KafkaNode] = {}
        self._libs: Path | None = None
        self._java: str | None = None
        self._cluster_id: str | None = None
        self._lock = threading.RLock()

    # -- information ------------------------------------------------------------------------

    @property
    def bootstrap_servers(self) -> str:
        """Comma-separated ``127.0.0.1:PORT`` of every node, for ``bootstrap.servers``."""
        if not self._nodes:
            raise KafkaBrokerError("the cluster has not been started")
        return ",".join(node.address for node in self._nodes.values())

    @property
    def listeners(self) -> list[str]:
        """Names of the client listeners every node opens (``PLAINTEXT`` first)."""
        names = ["PLAINTEXT"]
        if self.tls is not None:
            names.append("SSL")
        if self._scram_users:
            names.append("SASL_SSL" if self.tls is not None else "SASL_PLAINTEXT")
        return names + list(self._advertise)

    def bootstrap_servers_for(self, listener: str) -> str:
        """Comma-separated ``127.0.0.1:PORT`` of every node's listener *listener*."""
        if not self._nodes:
            raise KafkaBrokerError("the cluster has not been started")
        return ",".join(node.address_of(listener) for node in self._nodes.values())

    @property
    def nodes(self) -> list[KafkaNode]:
        """The nodes, in ``node.id`` order (empty before :meth:`start`)."""
        return [self._nodes[i] for i in sorted(self._nodes)]

    @property
    def directory(self) -> Path:
        """Root directory of the cluster's files."""
        if self._root is None:
            raise KafkaBrokerError("the cluster has not been started")
        return self._root

    @property
    def cluster_id(self) -> str:
        """The KRaft cluster id the storage was formatted with."""
        if self._cluster_id is None:
            raise KafkaBrokerError("the cluster has not been started")
        return self._cluster_id

    def node(self, node_id: int) -> KafkaNode:
        """Return the node with ``node.id`` *node_id*."""
        try:
            return self._nodes[node_id]
        except KeyError:
            raise KeyError(f"no node {node_id}; nodes are {sorted(self._nodes)}") from None

    def pid(self, node_id: int) -> int | None:
        """PID of node *node_id*'s JVM, or ``None`` when it is not running."""
        return self.node(node_id).pid

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> KafkaCluster:
        """Fetch the jars if needed, format fresh storage, start every node, wait until ready.

        Returns:
            ``self``, so that ``kafka = KafkaCluster().start()`` works.

        Raises:
            BrokerStartError: formatting failed, a node exited, or a node was not ready within
                ``start_timeout`` seconds. Nodes already started are stopped again.

        """
        with self._lock:
            if any(node.running for node in self._nodes.values()):
                raise KafkaBrokerError("the cluster is already running")
            self._libs = ensure_jars(self._cache_dir)
            self._java = _java_executable()
            self._cds_archive = self._find_cds_archive() if self._cds else None
            for attempt in (1, 2):
                self._prepare_root()
                self._layout_nodes()
                try:
                    self._format_all()
                    for node in self.nodes:
                        self._launch(node)
                    deadline = time.monotonic() + self.start_timeout
                    for node in self.nodes:
                        self._wait_ready(node, deadline)
                except BrokerStartError as exc:
                    self.stop(timeout=10.0, remove=False)
                    # Another process may have taken a probed port before Kafka bound it.
                    if attempt == 1 and "Address already in use" in str(exc):
                        continue
                    raise
                except BaseException:
                    self.stop(timeout=10.0, remove=False)
                    raise
                break
            _LIVE_CLUSTERS.add(self)
            return self

    def stop(self, timeout: float = 30.0, *, remove: bool = True) -> None:
        """Stop every node: SIGTERM (clean shutdown), then SIGKILL after *timeout* seconds.

        Removes the data directory afterwards when it is a temporary one this class made and
        *remove* is true. Calling it twice is harmless.
        """
        with self._lock:
            running = [node for node in self._nodes.values() if node._proc is not None]
            for node in running:
                self._signal(node, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            for node in running:
                self._reap(node, max(0.0, deadline - time.monotonic()))
            _LIVE_CLUSTERS.discard(self)
            if remove and self._owns_root and self._root is not None:
                shutil.rmtree(self._root, ignore_errors=True)
                self._root = None
                self._nodes = {}

    def kill(self, node_id: int) -> None:
        """SIGKILL node *node_id* (a crash: no flush, no controlled shutdown) and reap it."""
        with self._lock:
            node = self.node(node_id)
            if node._proc is None:
                return
            self._signal(node, signal.SIGKILL)
            self._reap(node, None)

    def stop_node(self, node_id: int, timeout: float = 30.0) -> None:
        """Stop node *node_id* cleanly (SIGTERM, then SIGKILL after *timeout* seconds)."""
        with self._lock:
            node = self.node(node_id)
            if node._proc is None:
                return
            self._signal(node, signal.SIGTERM)
            self._reap(node, timeout)

    def restart(self, node_id: int, timeout: float | None = None) -> None:
        """Start node *node_id* again on its existing storage and wait until it is ready.

        A node that is still running is stopped cleanly first. Storage is not formatted again.
        """
        with self._lock:
            node = self.node(node_id)
            if node._proc is not None:
                self.stop_node(node_id)
            self._launch(node)
            deadline = time.monotonic() + (self.start_timeout if timeout is None else timeout)
            try:
                self._wait_ready(node, deadline)
            except BaseException:
                self.kill(node_id)
                raise

    def __enter__(self) -> KafkaCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"KafkaCluster(nodes={self.node_count}, {self.nodes!r})"

    # -- internals --------------------------------------------------------------------------

    def _prepare_root(self) -> None:
        if self._given_dir is None:
            if self._root is None or not self._owns_root:
                self._root = Path(tempfile.mkdtemp(prefix="streamprocessor-kafka-"))
                self._owns_root = True
            for old in self._root.glob("node-*"):  # left by a failed start
                shutil.rmtree(old)
            return
        root = self._given_dir
        root.mkdir(parents=True, exist_ok=True)
        marker = root / _DIR_MARKER
        if not marker.exists():
            leftovers = [p.name for p in root.glob("node-*")]
            if leftovers:
                raise KafkaBrokerError(
                    f"{root} already has {leftovers} that this module did not make; "
                    "choose an empty directory"
                )
            marker.write_text("Kafka test cluster files; node-* is wiped on each start.\n")
        for old in root.glob("node-*"):
            shutil.rmtree(old)
        self._root = root
        self._owns_root = False

    def _layout_nodes(self) -> None:
        root = self.directory
        count = self.node_count
        extra = self.listeners[1:]
        if self._requested_port is not None:
            client_ports = [self._requested_port + i for i in range(count)]
            busy = [p for p in client_ports if not _port_is_free(p)]
            if busy:
                raise KafkaBrokerError(f"port(s) {busy} on {_HOST} are already in use")
            more = _free_ports((1 + len(extra)) * count, exclude=client_ports)
            controller_ports, listener_ports = more[:count], more[count:]
        else:
            ports = _free_ports((2 + len(extra)) * count)
            client_ports, controller_ports = ports[:count], ports[count : 2 * count]
            listener_ports = ports[2 * count :]
        self._cluster_id = _new_cluster_id()
        self._nodes = {}
        voters = ",".join(f"{i + 1}@{_HOST}:{controller_ports[i]}" for i in range(count))
        for index in range(count):
            node_id = index + 1
            node = KafkaNode(
                node_id,
                client_ports[index],
                controller_ports[index],
                root / f"node-{node_id}",
                {name: listener_ports[index * len(extra) + i] for i, name in enumerate(extra)},
            )
            node.data_dir.mkdir(parents=True)
            node.logs_dir.mkdir(parents=True)
            props = self._server_properties(node, voters)
            # holds the keystore password with TLS
            _write_private(node.properties_file, _format_properties(props))
            (node.directory / "log4j2.properties").write_text(_LOG4J2_PROPERTIES)
            self._nodes[node_id] = node

    def _server_properties(self, node: KafkaNode, voters: str) -> dict[str, str]:
        single = self.node_count == 1
        replicas = str(min(self.node_count, 3))
        min_isr = "2" if self.node_count >= 3 else "1"
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
            "auto.create.topics.enable": _prop_value(self.auto_create_topics),
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
        props.update(self._security_properties(node))
        props.update(self._overrides)
        return props

    def _security_properties(self, node: KafkaNode) -> dict[str, str]:
        """Listener entries and TLS/SASL settings for the ``SSL`` and ``SASL_*`` listeners."""
        extra = self.listeners[1:]
        if not extra:
            return {}
        listeners = [f"{name}://{_HOST}:{node.listener_ports[name]}" for name in extra]
        advertised = [
            f"{name}://{_HOST}:{self._advertise.get(name, node.listener_ports[name])}"
            for name in extra
        ]
        props = {
            "listeners": f"PLAINTEXT://{_HOST}:{node.port},"
            f"CONTROLLER://{_HOST}:{node.controller_port}," + ",".join(listeners),
            "advertised.listeners": f"PLAINTEXT://{_HOST}:{node.port}," + ",".join(advertised),
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,"
            + ",".join(
                f"{name}:{'PLAINTEXT' if name in self._advertise else name}" for name in extra
            ),
        }
        tls = self.tls
        if tls is not None:
            props.update(
                {
                    "ssl.keystore.type": "PKCS12",
                    "ssl.keystore.location": str(tls.broker_keystore),
                    "ssl.keystore.password": tls.broker_keystore_password,
                    "ssl.key.password": tls.broker_keystore_password,
                    "ssl.truststore.type": "PEM",
                    "ssl.truststore.location": str(tls.ca_cert),
                    "listener.name.ssl.ssl.client.auth": self._ssl_client_auth,
                }
            )
        if self._scram_users:
            sasl = "sasl_ssl" if tls is not None else "sasl_plaintext"
            props["sasl.enabled.mechanisms"] = ",".join(SCRAM_MECHANISMS)
            if tls is not None:
                props[f"listener.name.{sasl}.ssl.client.auth"] = "none"
            for mechanism in SCRAM_MECHANISMS:
                props[f"listener.name.{sasl}.{mechanism.lower()}.sasl.jaas.config"] = (
                    "org.apache.kafka.common.security.scram.ScramLoginModule required;"
                )
        return props

    def _find_cds_archive(self) -> Path | None:
        """Path of the class-data-sharing archive for these jars and this JVM.

        Returns ``None`` when the archive cannot be kept (read-only cache). The archive may not
        exist yet; :meth:`_launch` then has node 1 write it.
        """
        assert self._java is not None and self._libs is not None
        java = Path(self._java).resolve()
        try:
            stat = java.stat()
            jars = (self._libs / _JARS_MARKER).read_text(encoding="utf-8").strip()
            key = hashlib.sha256(
                f"{java}|{stat.st_size}|{stat.st_mtime_ns}|{jars}".encode()
            ).hexdigest()[:16]
            folder = self._libs.parent / "cds"
            folder.mkdir(exist_ok=True)
        except OSError:
            return None
        if not os.access(folder, os.W_OK):
            return None
        return folder / f"kafka-{key}.jsa"

    def _jvm_args(self, heap: str, *, dump_cds: Path | None = None) -> list[str]:
        assert self._java is not None and self._libs is not None
        cds: list[str] = []
        if dump_cds is not None:
            cds = [f"-XX:ArchiveClassesAtExit={dump_cds}"]
        elif self._cds_archive is not None and self._cds_archive.is_file():
            cds = [f"-XX:SharedArchiveFile={self._cds_archive}", "-Xshare:auto"]
        return [
            self._java,
            "-Xms128m",
            f"-Xmx{heap}",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-XX:CICompilerCount=1",
            "-XX:-UsePerfData",
            "-Xss512k",
            "-Djava.awt.headless=true",
            "-Dlog4j2.disable.jmx=true",
            *cds,
            *self._jvm_options,
            "-cp",
            str(self._libs / "*"),
        ]

    def _format_all(self) -> None:
        """Format every node's storage (concurrently; each is a short JVM run)."""
        procs: list[tuple[KafkaNode, subprocess.Popen[bytes], Path]] = []
        for node in self.nodes:
            cmd = [
                *self._jvm_args("128m"),
                f"-Dlog4j2.configurationFile={node.directory / 'log4j2.properties'}",
                f"-Dkafka.logs.dir={node.logs_dir}",
                "kafka.tools.StorageTool",
                "format",
                "--cluster-id",
                self.cluster_id,
                "--config",
                str(node.properties_file),
            ]
            if self.node_count == 1:
                cmd.append("--standalone")
            for user, password in self._scram_users.items():
                for mechanism in SCRAM_MECHANISMS:
                    cmd += ["--add-scram", f"{mechanism}=[name={user},password={password}]"]
            out_path = node.logs_dir / "format.log"
            with out_path.open("wb") as out:
                proc = subprocess.Popen(
                    cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=node.directory,
                    start_new_session=True,
                )
            procs.append((node, proc, out_path))
        failures: list[str] = []
        for node, proc, out_path in procs:
            try:
                code = proc.wait(timeout=self.start_timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                code = None
            if code != 0:
                failures.append(
                    f"node {node.node_id}: StorageTool format exited with {code}:\n"
                    f"{_read_tail(out_path)}"
                )
        if failures:
            raise BrokerStartError("\n".join(failures))

    def _launch(self, node: KafkaNode) -> None:
        node._cds_dump = None
        archive = self._cds_archive
        if (
            archive is not None
            and not archive.exists()
            and not any(other._cds_dump is not None for other in self._nodes.values())
        ):
            # No archive yet: this node writes one when it exits (one writer per cluster).
            node._cds_dump = archive.with_name(f"{archive.stem}-{uuid.uuid4().hex[:8]}.tmp")
        cmd = [
            *self._jvm_args(self._heap, dump_cds=node._cds_dump),
            f"-Dlog4j2.configurationFile={node.directory / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={node.logs_dir}",
            "kafka.Kafka",
            str(node.properties_file),
        ]
        try:
            node._log_offset = node.server_log.stat().st_size
        except OSError:
            node._log_offset = 0
        with (node.logs_dir / "stdout.log").open("ab") as stdout:
            node._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=subprocess.STDOUT,
                cwd=node.directory,
                start_new_session=True,
            )

    def _wait_ready(self, node: KafkaNode, deadline: float) -> None:
        """Wait until *node*'s client port accepts connections and it logged its start."""
        proc = node._proc
        assert proc is not None
        port_open = logged = False
        while True:
            code = proc.poll()
            if code is not None:
                self._reap(node, None)
                raise BrokerStartError(
                    f"Kafka node {node.node_id} exited with {code} while starting "
                    f"(dir {node.directory}):\n{node.log_tail()}"
                )
            if not logged:
                logged = self._logged_start(node)
            if logged and not port_open:
                port_open = _port_accepts(node.port)
            if logged and port_open:
                return
            if time.monotonic() > deadline:
                raise BrokerStartError(
                    f"Kafka node {node.node_id} was not ready within {self.start_timeout:.0f} s "
                    f"(port {node.port} open: {port_open}; '{STARTED_MESSAGE}' logged: {logged};"
                    f" dir {node.directory}):\n{node.log_tail()}"
                )
            time.sleep(0.1)

    @staticmethod
    def _logged_start(node: KafkaNode) -> bool:
        try:
            with node.server_log.open("rb") as handle:
                handle.seek(node._log_offset)
                return STARTED_MESSAGE.encode() in handle.read()
        except OSError:
            return False

    @staticmethod
    def _signal(node: KafkaNode, sig: signal.Signals) -> None:
        proc = node._proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)

    @staticmethod
    def _reap(node: KafkaNode, timeout: float | None) -> None:
        """Wait for *node*'s JVM to exit (SIGKILL it after *timeout* s) and forget it."""
        proc = node._proc
        if proc is None:
            return
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait()
        node._proc = None
        dump, node._cds_dump = node._cds_dump, None
        if dump is not None:
            # The JVM writes the archive while it exits; keep it only after a normal exit.
            target = dump.with_name(dump.name.rsplit("-", 1)[0] + ".jsa")
            with contextlib.suppress(OSError):
                if proc.returncode >= 0 and dump.stat().st_size > 0:
                    os.replace(dump, target)
            with contextlib.suppress(OSError):
                dump.unlink()


def _prop_value(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="kafka-broker",
        description=f"Run a local Apache Kafka {KAFKA_VERSION} broker (KRaft) for tests.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    fetch = sub.add_parser("fetch", help="only fetch the jars into the cache (needs mvn)")
    fetch.add_argument("--cache-dir", type=Path, help=f"jar cache (default: ${CACHE_ENV} or ~)")

    start = sub.add_parser(
        "start",
        help="start a cluster, print its bootstrap address, run until SIGTERM/SIGINT",
    )
    start.add_argument("--nodes", type=int, default=1, help="number of nodes (default 1)")
    start.add_argument("--port", type=int, help="client port of node 1 (default: a free port)")
    start.add_argument("--dir", type=Path, help="directory for data, logs and the state file")
    start.add_argument(
        "--no-auto-create-topics",
        action="store_true",
        help="set auto.create.topics.enable=false",
    )
    start.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra server.properties entry (repeatable)",
    )
    start.add_argument(
        "--tls",
        action="store_true",
        help="also open an SSL listener (mutual TLS) and, with --scram, a SASL_SSL one; "
        "certificates are made in DIR/tls and listed in the state file, their test-only "
        "passwords in DIR/tls/*.password (mode 0600)",
    )
    start.add_argument(
        "--scram",
        action="append",
        default=[],
        metavar="USER=PASSWORD",
        help="a SCRAM-SHA-256/512 login (repeatable); opens a SASL listener",
    )
    start.add_argument("--timeout", type=float, default=DEFAULT_START_TIMEOUT)
    start.add_argument("--cache-dir", type=Path, help="jar cache directory")

    address = sub.add_parser(
        "address",
        help="wait until the cluster 'start --dir DIR' runs is ready, print its address",
    )
    address.add_argument("--dir", type=Path, required=True)
    address.add_argument("--timeout", type=float, default=DEFAULT_START_TIMEOUT + 60.0)

    stop = sub.add_parser("stop", help="stop a cluster that 'start --dir DIR' is running")
    stop.add_argument("--dir", type=Path, required=True)
    stop.add_argument("--timeout", type=float, default=60.0)
    return parser.parse_args(argv)


def _cmd_fetch(args: argparse.Namespace) -> int:
    libs = ensure_jars(args.cache_dir)
    print(libs)
    return 0


def _cmd_start(args: argparse.Namespace) -> int:
    overrides: dict[str, str | int | bool] = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key:
            print(f"kafka-broker: --set needs KEY=VALUE, got {item!r}", file=sys.stderr)
            return 2
        overrides[key.strip()] = value.strip()
    scram: dict[str, str] = {}
    for item in args.scram:
        user, sep, password = item.partition("=")
        if not sep or not user or not password:
            print(f"kafka-broker: --scram needs USER=PASSWORD, got {item!r}", file=sys.stderr)
            return 2
        scram[user] = password
    temporary = args.dir is None
    directory: Path = (
        Path(tempfile.mkdtemp(prefix="kafka-broker-")) if args.dir is None else args.dir
    )
    tls = create_test_certificates(directory / "tls") if args.tls else None
    stop_requested = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stop_requested.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    cluster = KafkaCluster(
        args.nodes,
        port=args.port,
        data_dir=directory,
        auto_create_topics=not args.no_auto_create_topics,
        overrides=overrides,
        start_timeout=args.timeout,
        cache_dir=args.cache_dir,
        tls=tls,
        scram_users=scram,
    )
    state_path = directory.expanduser().resolve() / STATE_FILE
    if _running_cli_pid(state_path) is not None:
        print(f"kafka-broker: a cluster is already running in {directory}", file=sys.stderr)
        return 1
    started = time.monotonic()
    try:
        cluster.start()
    except KafkaBrokerError as exc:
        print(f"kafka-broker: {exc}", file=sys.stderr)
        return 1
    state: dict[str, Any] = {
        "pid": os.getpid(),
        "bootstrap_servers": cluster.bootstrap_servers,
        "listeners": {name: cluster.bootstrap_servers_for(name) for name in cluster.listeners},
        "kafka_version": KAFKA_VERSION,
        "cluster_id": cluster.cluster_id,
        "nodes": [
            {
                "node_id": n.node_id,
                "pid": n.pid,
                "port": n.port,
                "controller_port": n.controller_port,
                "listener_ports": n.listener_ports,
                "properties": str(n.properties_file),
            }
            for n in cluster.nodes
        ],
    }
    if tls is not None:
        # test-only secrets, but still not in a file meant to be read and printed
        client_password = tls.directory / "client.key.password"
        keystore_password = tls.directory / "broker.p12.password"
        _write_private(client_password, tls.client_key_password + "\n")
        _write_private(keystore_password, tls.broker_keystore_password + "\n")
        state["tls"] = {
            "ca_cert": str(tls.ca_cert),
            "client_cert": str(tls.client_cert),
            "client_key": str(tls.client_key),
            "client_key_password_file": str(client_password),
            "broker_keystore": str(tls.broker_keystore),
            "broker_keystore_password_file": str(keystore_password),
        }
    _write_private(state_path, json.dumps(state, indent=2) + "\n")
    where = shlex.quote(str(directory))
    print(
        f"kafka-broker: Kafka {KAFKA_VERSION}, {args.nodes} node(s) ready in "
        f"{time.monotonic() - started:.1f} s; dir {directory}\n"
        f"kafka-broker: to use it: export KAFKA={cluster.bootstrap_servers}\n"
        f"kafka-broker: to stop it: SIGTERM, or {_command()} stop --dir {where}",
        file=sys.stderr,
    )
    print(cluster.bootstrap_servers, flush=True)
    code = 0
    try:
        while not stop_requested.wait(1.0):
            if not any(node.running for node in cluster.nodes):
                print("kafka-broker: every node has exited", file=sys.stderr)
                code = 1
                break
    finally:
        cluster.stop()
        with contextlib.suppress(OSError):
            state_path.unlink()
        if temporary:
            shutil.rmtree(directory, ignore_errors=True)
    return code


def _is_our_broker(pid: int, properties: str) -> bool:
    """Whether *pid* is a ``kafka.Kafka`` JVM running *properties* (guards against PID reuse)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"kafka.Kafka" in argv and properties.encode() in argv


def _is_our_cli(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"kafka_broker" in cmdline or b"kafka-broker" in cmdline


def _running_cli_pid(state_path: Path) -> int | None:
    """PID of the live ``start`` process that wrote *state_path*, if any."""
    try:
        pid = int(json.loads(state_path.read_text(encoding="utf-8"))["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return pid if _pid_alive(pid) and _is_our_cli(pid) else None


def _command() -> str:
    """How the user runs this command line: the wrapper script, or ``python -m``."""
    wrapper = os.environ.get(COMMAND_ENV)
    if wrapper:
        return shlex.quote(wrapper)
    return f"{shlex.quote(sys.executable)} -m streamprocessor.testing.kafka_broker"


def _cmd_address(args: argparse.Namespace) -> int:
    state_path = args.dir.expanduser().resolve() / STATE_FILE
    deadline = time.monotonic() + args.timeout
    while True:
        if _running_cli_pid(state_path) is not None:
            try:
                print(json.loads(state_path.read_text(encoding="utf-8"))["bootstrap_servers"])
                return 0
            except (OSError, ValueError, KeyError):
                pass  # stopped meanwhile
        if time.monotonic() >= deadline:
            print(
                f"kafka-broker: no cluster became ready in {args.dir} within "
                f"{args.timeout:g} s: start one with "
                f"'{_command()} start --dir {shlex.quote(str(args.dir))}' "
                "(what it prints says why it failed)",
                file=sys.stderr,
            )
            return 1
        time.sleep(0.2)


def _cmd_stop(args: argparse.Namespace) -> int:
    state_path = args.dir.expanduser().resolve() / STATE_FILE
    try:
        state = json.loads(state_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"kafka-broker: no running cluster in {args.dir} ({exc})", file=sys.stderr)
        return 1
    deadline = time.monotonic() + args.timeout
    cli_pid = _running_cli_pid(state_path)
    if cli_pid is not None:
        os.kill(cli_pid, signal.SIGTERM)  # it stops its nodes cleanly and removes the state
        while _pid_alive(cli_pid) and time.monotonic() < deadline:
            time.sleep(0.2)
    # The CLI process is gone (or stuck): stop any broker JVM it left behind, and only those.
    leftovers = [
        int(n["pid"])
        for n in state.get("nodes", [])
        if n.get("pid") and _is_our_broker(int(n["pid"]), str(n["properties"]))
    ]
    for pid in leftovers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    for pid in leftovers:
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _pid_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        state_path.unlink()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: ``fetch``, ``start``, ``address`` or ``stop``; the exit code."""
    args = _parse_args(argv)
    try:
        if args.command == "fetch":
            return _cmd_fetch(args)
        if args.command == "start":
            return _cmd_start(args)
        if args.command == "address":
            return _cmd_address(args)
        return _cmd_stop(args)
    except KafkaBrokerError as exc:
        print(f"kafka-broker: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
