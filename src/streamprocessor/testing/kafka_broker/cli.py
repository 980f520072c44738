"""The command line: ``fetch``, ``start``, ``address`` and ``stop`` (``python -m`` runs it)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from streamprocessor.testing.kafka_broker._common import _write_private
from streamprocessor.testing.kafka_broker.certificates import create_test_certificates
from streamprocessor.testing.kafka_broker.cluster import DEFAULT_START_TIMEOUT, KafkaCluster
from streamprocessor.testing.kafka_broker.errors import KafkaBrokerError
from streamprocessor.testing.kafka_broker.jars import CACHE_ENV, KAFKA_VERSION, ensure_jars

__all__ = ["COMMAND_ENV", "STATE_FILE", "main"]

COMMAND_ENV: Final = "STREAMPROCESSOR_KAFKA_BROKER_COMMAND"
"""Set by ``scripts/kafka-broker``: the command that the printed instructions name."""

STATE_FILE: Final = "kafka-broker.json"
"""Name of the state file the ``start`` command writes into its directory.

Created with mode 0600: it describes a test cluster (addresses, process ids, with ``--tls``
the certificate paths and the paths of the password files). It holds no password itself,
but it points at test-only secrets, so it is kept private anyway.
"""


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
