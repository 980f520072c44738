"""One broker JVM of a cluster, and what launching one needs: free ports and a ``java``."""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

from streamprocessor.testing.kafka_broker._common import _HOST, _read_tail
from streamprocessor.testing.kafka_broker.errors import KafkaBrokerError

__all__ = ["KafkaNode"]


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
