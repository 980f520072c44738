"""The real-Kafka test harness itself: start, serve, crash, restart (1 and 3 nodes)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from streamprocessor.testing.kafka_broker import KAFKA_VERSION, STATE_FILE, KafkaCluster

confluent_kafka = pytest.importorskip("confluent_kafka")
from confluent_kafka import Consumer, KafkaError, Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic  # noqa: E402

pytestmark = pytest.mark.kafka


def _admin(kafka: KafkaCluster) -> Any:
    return AdminClient({"bootstrap.servers": kafka.bootstrap_servers})


def _create_topic(kafka: KafkaCluster, partitions: int = 1, replicas: int = 1) -> str:
    topic = f"t-{uuid.uuid4().hex[:10]}"
    admin = _admin(kafka)
    futures = admin.create_topics([NewTopic(topic, partitions, replicas)], operation_timeout=30)
    futures[topic].result(timeout=60)
    _wait_for_leaders(kafka, topic, partitions)
    return topic


def _wait_for_leaders(
    kafka: KafkaCluster,
    topic: str,
    partitions: int,
    isr: int = 1,
    not_on: int | None = None,
    timeout: float = 60.0,
) -> Any:
    """Wait until every partition has a leader (not node *not_on*) and *isr* in-sync replicas."""
    admin = _admin(kafka)
    deadline = time.monotonic() + timeout
    while True:
        meta = admin.list_topics(topic, timeout=10).topics.get(topic)
        if (
            meta is not None
            and meta.error is None
            and len(meta.partitions) == partitions
            and all(
                p.leader >= 0 and p.leader != not_on and len(p.isrs) >= isr
                for p in meta.partitions.values()
            )
        ):
            return meta
        assert time.monotonic() < deadline, f"{topic}: no leader/ISR {isr} yet: {meta}"
        time.sleep(0.2)


def _produce(kafka: KafkaCluster, topic: str, value: bytes, key: bytes | None = None) -> None:
    producer = Producer(
        {
            "bootstrap.servers": kafka.bootstrap_servers,
            "enable.idempotence": True,
            "acks": "all",
            "message.timeout.ms": 60000,
        }
    )
    errors: list[Any] = []
    producer.produce(topic, value, key, on_delivery=lambda err, _msg: errors.append(err))
    assert producer.flush(60) == 0
    assert errors == [None]


def _consume_all(
    kafka: KafkaCluster, topic: str, expected: int, timeout: float = 60.0
) -> list[Any]:
    """Read *topic* from the beginning with a consumer group until *expected* messages came."""
    consumer = Consumer(
        {
            "bootstrap.servers": kafka.bootstrap_servers,
            "group.id": f"g-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": 6000,
        }
    )
    got: list[Any] = []
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + timeout
        while len(got) < expected and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error() is not None:
                assert msg.error().code() == KafkaError._PARTITION_EOF, msg.error()
                continue
            got.append(msg)
        if got:
            consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    return got


def _process_gone(pid: int) -> bool:
    """Whether *pid* no longer exists (the harness reaps what it kills, so no zombie stays)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


# --------------------------------------------------------------------------------------------
# one node
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def single() -> Iterator[KafkaCluster]:
    started = time.monotonic()
    with KafkaCluster(1) as kafka:
        print(f"single node ready in {time.monotonic() - started:.1f} s")
        yield kafka


def test_single_node_listens_on_loopback(single: KafkaCluster) -> None:
    node = single.node(1)
    assert single.bootstrap_servers == f"127.0.0.1:{node.port}"
    assert single.pid(1) == node.pid is not None
    with socket.create_connection(("127.0.0.1", node.port), timeout=2):
        pass
    props = node.properties_file.read_text()
    assert "auto.create.topics.enable=true" in props
    assert f"listeners=PLAINTEXT://127.0.0.1:{node.port},CONTROLLER://127.0.0.1:" in props


def test_single_node_metadata(single: KafkaCluster) -> None:
    admin = _admin(single)
    meta = admin.list_topics(timeout=30)
    assert list(meta.brokers) == [1]
    broker = meta.brokers[1]
    assert (broker.host, broker.port) == ("127.0.0.1", single.node(1).port)
    resource = ConfigResource("broker", "1")
    configs = admin.describe_configs([resource])[resource].result(timeout=30)
    assert configs["auto.create.topics.enable"].value == "true"
    assert configs["offsets.topic.num.partitions"].value == "1"
    assert configs["group.initial.rebalance.delay.ms"].value == "0"


def test_single_node_produce_and_consume(single: KafkaCluster) -> None:
    topic = _create_topic(single)
    _produce(single, topic, b"hello", b"k")
    [msg] = _consume_all(single, topic, 1)
    assert (msg.key(), msg.value(), msg.offset()) == (b"k", b"hello", 0)


def test_single_node_acked_message_survives_kill_and_restart(single: KafkaCluster) -> None:
    topic = _create_topic(single)
    _produce(single, topic, b"before-kill")
    old_pid = single.pid(1)
    assert old_pid is not None

    single.kill(1)
    assert single.pid(1) is None
    assert _process_gone(old_pid)

    started = time.monotonic()
    single.restart(1)
    print(f"single node restarted after SIGKILL in {time.monotonic() - started:.1f} s")
    new_pid = single.pid(1)
    assert new_pid is not None and new_pid != old_pid

    _wait_for_leaders(single, topic, 1)
    _produce(single, topic, b"after-restart")
    values = [m.value() for m in _consume_all(single, topic, 2)]
    assert values == [b"before-kill", b"after-restart"]


def test_broker_without_auto_create_topics() -> None:
    with KafkaCluster(1, auto_create_topics=False, overrides={"num.partitions": 2}) as kafka:
        admin = _admin(kafka)
        resource = ConfigResource("broker", "1")
        configs = admin.describe_configs([resource])[resource].result(timeout=30)
        assert configs["auto.create.topics.enable"].value == "false"
        assert configs["num.partitions"].value == "2"
        # A metadata request for an unknown topic must not create it (with the setting on,
        # the same request creates the topic within a second).
        missing = f"missing-{uuid.uuid4().hex[:8]}"
        meta = admin.list_topics(missing, timeout=10)
        assert meta.topics[missing].error is not None
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            assert missing not in admin.list_topics(timeout=10).topics
            time.sleep(0.25)


def test_kafka_version_is_4x() -> None:
    assert KAFKA_VERSION.startswith("4.")


def _mode(path: os.PathLike[str] | str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_start_tls_keeps_passwords_out_of_the_state_file_and_private(tmp_path: Path) -> None:
    """`start --tls`: state file 0600 without passwords; they are in 0600 files it names."""
    cli = [sys.executable, "-m", "streamprocessor.testing.kafka_broker"]
    state_path = tmp_path / STATE_FILE
    proc = subprocess.Popen([*cli, "start", "--dir", str(tmp_path), "--tls"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 180
        while not state_path.exists():
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else proc.returncode
            assert time.monotonic() < deadline, "no state file after 180 s"
            time.sleep(0.2)
        text = state_path.read_text(encoding="utf-8")
        tls = json.loads(text)["tls"]
        client_file = Path(tls["client_key_password_file"])
        keystore_file = Path(tls["broker_keystore_password_file"])
        passwords = [f.read_text(encoding="utf-8").strip() for f in (client_file, keystore_file)]
        assert all(passwords)
        assert "client_key_password" not in tls
        assert not any(p in text for p in passwords)
        assert [_mode(f) for f in (state_path, client_file, keystore_file)] == [0o600] * 3
        properties = list(tmp_path.glob("node-*/server.properties"))
        assert properties
        assert [_mode(f) for f in properties] == [0o600] * len(properties)
        # the files hold the right passwords: openssl opens the key and the keystore with them
        for command, path, secret in (("pkey", tls["client_key"], client_file),
                                      ("pkcs12", tls["broker_keystore"], keystore_file)):
            done = subprocess.run(
                ["openssl", command, "-in", path, "-noout", "-passin", f"file:{secret}"],
                capture_output=True, timeout=60,
            )
            assert done.returncode == 0, done.stderr
    finally:
        # `stop` also ends broker processes a failed `start` left behind. It waits until
        # `start` is gone, which for our child means reaped: wait for both at once.
        stopping = subprocess.Popen([*cli, "stop", "--dir", str(tmp_path)],
                                    stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while proc.poll() is None and stopping.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        if proc.poll() is None:
            proc.terminate()  # `stop` failed (no state file yet): `start` stops on SIGTERM
        try:
            code = proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
        _, stop_errors = stopping.communicate(timeout=120)
    assert stopping.returncode == 0, stop_errors
    assert code == 0
    assert not state_path.exists()


def test_the_script_prints_commands_that_work(tmp_path: Path) -> None:
    """`scripts/kafka-broker start` says how to use and stop it; `address` waits for it."""
    script = Path(__file__).resolve().parents[2] / "scripts" / "kafka-broker"
    errors = tmp_path / "start.err"
    with errors.open("w") as err:
        proc = subprocess.Popen([str(script), "start", "--dir", str(tmp_path / "k")],
                                stdout=subprocess.PIPE, stderr=err, text=True)
    try:
        got = subprocess.run([str(script), "address", "--dir", str(tmp_path / "k")],
                             capture_output=True, text=True, timeout=240)
        assert got.returncode == 0, got.stderr
        address = got.stdout.strip()
        assert address.startswith("127.0.0.1:")
        assert proc.stdout is not None and proc.stdout.readline().strip() == address
        said = errors.read_text()
        assert f"kafka-broker: to use it: export KAFKA={address}\n" in said
        stop = said.split("kafka-broker: to stop it: SIGTERM, or ", 1)[1].splitlines()[0]
        assert stop.startswith(str(script))
        done = subprocess.run(["bash", "-c", stop], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=60)
    assert not (tmp_path / "k" / STATE_FILE).exists()


# --------------------------------------------------------------------------------------------
# three nodes
# --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_three_node_cluster_survives_losing_a_node() -> None:
    started = time.monotonic()
    with KafkaCluster(3) as kafka:
        print(f"3 nodes ready in {time.monotonic() - started:.1f} s")
        assert len(kafka.bootstrap_servers.split(",")) == 3
        meta = _admin(kafka).list_topics(timeout=30)
        assert sorted(meta.brokers) == [1, 2, 3]

        topic = _create_topic(kafka, partitions=3, replicas=3)
        meta = _wait_for_leaders(kafka, topic, 3, isr=3)
        assert all(sorted(p.replicas) == [1, 2, 3] for p in meta.partitions.values())
        _produce(kafka, topic, b"m1", b"a")

        # Crash the leader of partition 0; the other two keep min.insync.replicas=2.
        victim = meta.partitions[0].leader
        victim_pid = kafka.pid(victim)
        assert victim_pid is not None
        kafka.kill(victim)
        assert kafka.pid(victim) is None and _process_gone(victim_pid)
        assert all(kafka.pid(n.node_id) is not None for n in kafka.nodes if n.node_id != victim)

        t = time.monotonic()
        _wait_for_leaders(kafka, topic, 3, isr=2, not_on=victim)
        print(f"leaders moved off node {victim} in {time.monotonic() - t:.1f} s")
        _produce(kafka, topic, b"m2", b"a")
        got = _consume_all(kafka, topic, 2)
        assert sorted(m.value() for m in got) == [b"m1", b"m2"]

        t = time.monotonic()
        kafka.restart(victim)
        print(f"node {victim} restarted in {time.monotonic() - t:.1f} s")
        assert kafka.pid(victim) not in (None, victim_pid)
        t = time.monotonic()
        _wait_for_leaders(kafka, topic, 3, isr=3, timeout=90)
        print(f"ISR back to 3 in {time.monotonic() - t:.1f} s")
        _produce(kafka, topic, b"m3", b"a")
        got = _consume_all(kafka, topic, 3)
        assert sorted(m.value() for m in got) == [b"m1", b"m2", b"m3"]
        t = time.monotonic()
    print(f"3 nodes stopped in {time.monotonic() - t:.1f} s")
