"""A local Kafka cluster of broker+controller nodes: format, start, stop, kill, restart."""

from __future__ import annotations

import atexit
import base64
import contextlib
import hashlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Final

from streamprocessor.testing.kafka_broker._common import _HOST, _read_tail, _write_private
from streamprocessor.testing.kafka_broker.certificates import TlsFiles
from streamprocessor.testing.kafka_broker.config import (
    _LOG4J2_PROPERTIES,
    _SCRAM_NAME,
    _SCRAM_PASSWORD,
    LISTENER_NAMES,
    SCRAM_MECHANISMS,
    _format_properties,
    _prop_value,
    _server_properties,
)
from streamprocessor.testing.kafka_broker.errors import BrokerStartError, KafkaBrokerError
from streamprocessor.testing.kafka_broker.jars import _JARS_MARKER, ensure_jars
from streamprocessor.testing.kafka_broker.node import (
    KafkaNode,
    _free_ports,
    _java_executable,
    _port_accepts,
    _port_is_free,
)

__all__ = ["CDS_ENV", "DEFAULT_START_TIMEOUT", "STARTED_MESSAGE", "KafkaCluster"]

DEFAULT_START_TIMEOUT: Final = 120.0
"""Seconds to wait for a node to become ready before giving up."""

STARTED_MESSAGE: Final = "Kafka Server started"
"""Line the broker logs (``KafkaBroker.STARTED_MESSAGE``) once it serves clients."""

CDS_ENV: Final = "STREAMPROCESSOR_KAFKA_CDS"
"""Set to ``0`` to turn the JVM class-data-sharing archive off (see :class:`KafkaCluster`)."""

_DIR_MARKER: Final = ".streamprocessor-kafka"


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
        return _server_properties(
            node,
            node_count=self.node_count,
            voters=voters,
            auto_create_topics=self.auto_create_topics,
            listeners=self.listeners[1:],
            advertise=self._advertise,
            tls=self.tls,
            ssl_client_auth=self._ssl_client_auth,
            scram=bool(self._scram_users),
            overrides=self._overrides,
        )

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


def _new_cluster_id() -> str:
    """Return a random cluster id in Kafka's format (22 chars of URL-safe base64).

    Like Kafka's own ``Uuid.randomUuid``, it never starts with ``-``: StorageTool's argument
    parser would take such an id for an option.
    """
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode("ascii")
        if not text.startswith("-"):
            return text


# Clusters that are still running when the interpreter exits are stopped (best effort).
_LIVE_CLUSTERS: weakref.WeakSet[KafkaCluster] = weakref.WeakSet()


@atexit.register
def _stop_live_clusters() -> None:
    for cluster in list(_LIVE_CLUSTERS):
        with contextlib.suppress(Exception):
            cluster.stop(timeout=15.0)
