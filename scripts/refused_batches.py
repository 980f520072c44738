"""What librdkafka does with a batch the broker refuses for good (facts for the notes).

Starts its own single-node broker (with an ACL authorizer: the PLAINTEXT listener is a
super user, a SCRAM user ``writer`` may describe but not write one topic), then for each
case and with ``enable.idempotence`` true and false sends one batch to partition 0 —
small messages around one the broker refuses — and, after the reports, a few more on the
same partition. Prints every delivery report, the producer's errors, the epoch lines of
librdkafka's ``eos`` debug log, and what the partition holds at the end.

    .venv/bin/python scripts/refused_batches.py
"""

from __future__ import annotations

import sys
import time
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition, libversion, version
from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

from streamprocessor.clients.kafka import testing as kt
from streamprocessor.testing.kafka_broker import KafkaCluster

LIMIT = 10_000  # the topic's max.message.bytes


def run_case(
    brokers: str, case: str, topic: str, idempotent: bool, batch: list[tuple[Any, bytes]],
    extra: dict[str, Any] | None = None, read: str | None = None,
) -> None:
    print(f"\n=== {case}, enable.idempotence={idempotent}")
    reports: list[str] = []
    errors: list[str] = []
    logs: list[str] = []

    def report(err: Any, msg: Any) -> None:
        what = f"key={msg.key()!r} len={len(msg.value() or b'')} off={msg.offset()}"
        if err is None:
            reports.append(f"  ok   {what}")
        else:
            reports.append(f"  FAIL {what}: {err.name()} ({err.code()}) {err.str()!r} "
                           f"fatal={err.fatal()} retriable={err.retriable()} "
                           f"txn_requires_abort={err.txn_requires_abort()}")

    class Log:
        def log(self, level: int, fmt: str, *args: Any) -> None:
            line = fmt % args if args else fmt
            if any(w in line.lower() for w in ("epoch", "fatal", "drain", "pid")):
                logs.append("  log: " + line[:220])

    conf = {
        "bootstrap.servers": brokers,
        "enable.idempotence": idempotent,
        "linger.ms": 200,  # everything below goes in one batch
        "error_cb": lambda e: errors.append(f"  error_cb: {e.name()} {e.str()!r} "
                                            f"fatal={e.fatal()}"),
        "debug": "eos,msg",
        "logger": Log(),
        **(extra or {}),
    }
    p = Producer(conf)
    for key, value in batch:
        try:
            p.produce(topic, value, key, 0, on_delivery=report)
        except Exception as exc:
            reports.append(f"  produce({key!r}) raised {exc}")
    left = p.flush(30)
    print(f"first batch: flush left {left}")
    print("\n".join(reports))
    reports.clear()
    for i in range(3):
        try:
            p.produce(topic, b"after-%d" % i, b"after", 0, on_delivery=report)
        except Exception as exc:
            reports.append(f"  produce(after) raised {exc}")
    left = p.flush(30)
    print(f"three more after it: flush left {left}")
    print("\n".join(reports))
    print("\n".join(errors) or "  (no error_cb)")
    print("\n".join(dict.fromkeys(logs)) or "  (no epoch/fatal log lines)")
    try:
        p.produce(topic, b"probe", None, 0)
        print("  produce after: accepted; flush left", p.flush(10))
    except Exception as exc:
        print("  produce after: raised", exc)
    c = Consumer({"bootstrap.servers": read or brokers, "group.id": kt.random_name("x"),
                  "enable.auto.commit": False})
    c.assign([TopicPartition(topic, 0, 0)])
    got = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is None or m.error():
            continue
        got.append((m.offset(), m.key(), len(m.value() or b"")))
    c.close()
    print("partition 0 holds:", got)


def main() -> int:
    print("confluent-kafka", version(), "librdkafka", libversion())
    cluster = KafkaCluster(
        nodes=1,
        scram_users={"writer": "secret"},
        overrides={
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users": "User:ANONYMOUS",
        },
    )
    cluster.start()
    try:
        brokers = cluster.bootstrap_servers
        small = [(b"k%d" % i, b"s" * 100) for i in range(3)]
        tail = [(b"k%d" % i, b"s" * 100) for i in range(4, 6)]
        for idem in (True, False):
            t = kt.create_topic(brokers, config={"max.message.bytes": str(LIMIT)})
            run_case(brokers, "MSG_SIZE_TOO_LARGE: one big among small", t, idem,
                     [*small, (b"big", b"B" * 20_000), *tail])
            t = kt.create_topic(brokers, config={"max.message.bytes": str(LIMIT)})
            run_case(brokers, "MSG_SIZE_TOO_LARGE: 300 small, batch > limit", t, idem,
                     [(b"k%d" % i, b"s" * 100) for i in range(300)][:300])
            t = kt.create_topic(brokers, config={"max.message.bytes": str(LIMIT)})
            run_case(brokers, "MSG_SIZE_TOO_LARGE: batches of 2 in flight, big in the 2nd",
                     t, idem, [*small[:2], (b"k2", b"s" * 100), (b"big", b"B" * 20_000),
                               *[(b"k%d" % i, b"s" * 100) for i in range(4, 12)]],
                     {"linger.ms": 0, "batch.num.messages": 2,
                      "max.in.flight.requests.per.connection": 5})
            t = kt.create_topic(brokers, config={"cleanup.policy": "compact"})
            run_case(brokers, "INVALID_RECORD: null key on a compacted topic", t, idem,
                     [*small, (None, b"no key"), *tail])
            t = kt.create_topic(brokers)
            admin = AdminClient({"bootstrap.servers": brokers})
            acl = AclBinding(ResourceType.TOPIC, t, ResourcePatternType.LITERAL,
                             "User:writer", "*", AclOperation.DESCRIBE,
                             AclPermissionType.ALLOW)
            for f in admin.create_acls([acl]).values():
                f.result(10)
            if idem:  # (idempotent producers need IDEMPOTENT_WRITE on the cluster)
                acl = AclBinding(ResourceType.BROKER, "kafka-cluster",
                                 ResourcePatternType.LITERAL, "User:writer", "*",
                                 AclOperation.IDEMPOTENT_WRITE, AclPermissionType.ALLOW)
                for f in admin.create_acls([acl]).values():
                    f.result(10)
            run_case(cluster.bootstrap_servers_for("SASL_PLAINTEXT"),
                     "TOPIC_AUTHORIZATION_FAILED: describe but no write", t, idem,
                     [*small, *tail],
                     {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-256",
                      "sasl.username": "writer", "sasl.password": "secret"}, brokers)
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
