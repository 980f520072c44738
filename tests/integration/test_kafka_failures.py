"""Kafka clients when the broker fails: restarts are ridden out, close stays bounded.

These tests start their own broker (topic auto-creation off, so a missing topic really is
missing) because they kill it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from streamprocessor import options
from streamprocessor.clients import kafka
from streamprocessor.clients.kafka import testing as kt
from streamprocessor.stream.errors import ClientError, DeliveryError, FlushTimeoutError
from streamprocessor.stream.message import Message
from streamprocessor.testing.kafka_broker import KafkaCluster

pytestmark = pytest.mark.kafka
TIMEOUT = 30.0


@pytest.fixture(scope="module")
def cluster() -> Iterator[KafkaCluster]:
    """A broker of this module's own, without topic auto-creation."""
    c = KafkaCluster(nodes=1, auto_create_topics=False).start()
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture
def live(cluster: KafkaCluster) -> Iterator[KafkaCluster]:
    """The module's broker, running again after the test whatever the test did to it."""
    yield cluster
    if not cluster.node(1).running:
        cluster.restart(1)


def test_sending_to_a_missing_topic_is_a_delivery_error(live: KafkaCluster) -> None:
    """Without auto-creation a send to a missing topic fails with a clear error."""
    brokers = live.bootstrap_servers
    missing = kt.random_name("missing")
    p = kafka.new_producer(
        *kt.producer_options(brokers, missing),
        options.kafka_librdkafka_config({"topic.metadata.propagation.max.ms": "1000"}),
    )
    p.send(Message(value=b"lost"))
    with pytest.raises(DeliveryError, match=r"does not exist|Unknown topic"):
        p.flush(TIMEOUT)


def test_consuming_a_missing_topic_is_an_error(live: KafkaCluster) -> None:
    """A subscription to a topic that does not exist ends with a clear error."""
    brokers = live.bootstrap_servers
    c = kafka.new_consumer(*kt.consumer_options(brokers, kt.random_name("missing")))
    start = time.monotonic()
    with pytest.raises(ClientError, match="does not exist"):
        for _ in c:
            assert time.monotonic() - start < TIMEOUT


def test_a_broker_restart_is_ridden_out(live: KafkaCluster) -> None:
    """Kill the broker mid-stream, start it again: nothing is lost, nothing is raised."""
    brokers = live.bootstrap_servers
    topic = kt.create_topic(brokers)
    received: list[bytes | None] = []
    errors: list[BaseException] = []
    c = kafka.new_consumer(*kt.consumer_options(brokers, topic))
    p = kafka.new_producer(*kt.producer_options(brokers, topic))

    def consume() -> None:
        try:
            for m in c:
                received.append(m.value)
                c.ack(m)
                if len(set(received)) >= 100:
                    break
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    t = threading.Thread(target=consume, daemon=True)
    t.start()
    for i in range(50):
        p.send(Message(value=b"%d" % i))
    p.flush(TIMEOUT)
    deadline = time.monotonic() + TIMEOUT
    while len(received) < 50:
        assert time.monotonic() < deadline, f"only {len(received)} before the restart"
        time.sleep(0.05)
    live.kill(1)
    for i in range(50, 100):
        p.send(Message(value=b"%d" % i))
    time.sleep(2.0)
    live.restart(1)
    p.flush(TIMEOUT)
    t.join(TIMEOUT)
    assert not errors
    # at least once: a group session that expired while the broker was away may hand
    # out again what was acknowledged but not yet committed, never less
    assert set(received) == {b"%d" % i for i in range(100)}
    assert received[-50:] == [b"%d" % i for i in range(50, 100)]
    c.close()
    p.close()
    assert kt.committed_offsets(brokers, topic, topic) == {0: 100}


def test_close_is_bounded_with_the_broker_down(
    live: KafkaCluster, caplog: pytest.LogCaptureFixture
) -> None:
    """Broker gone: producer and consumer close within the shutdown timeout and say why."""
    brokers = live.bootstrap_servers
    topic = kt.create_topic(brokers)
    kt.produce_messages(brokers, topic, "a", "b")
    bounded: list[Any] = [options.shutdown_timeout("2s"), options.manual_interrupt_handling()]
    c = kafka.new_consumer(*kt.consumer_options(brokers, topic), *bounded)
    p = kafka.new_producer(*kt.producer_options(brokers, topic), *bounded)
    c.ack(next(iter(c)))
    # backlog() applies the ack (no send before it: committable); a send made before the
    # ack is applied would hold it back until that send is delivered
    assert c.backlog() == 1
    live.kill(1)
    p.send(Message(value=b"stuck"))
    with caplog.at_level(logging.ERROR, logger="streamprocessor"):
        start = time.monotonic()
        with pytest.raises(FlushTimeoutError, match="1 left") as info:
            p.close()
        assert info.value.remaining == 1
        assert time.monotonic() - start < 6
        start = time.monotonic()
        closing = threading.Thread(target=c.close)
        closing.start()
        said = set()  # what the shutdown watchdog would report meanwhile
        while closing.is_alive():
            said.add(c.unfinished())
            time.sleep(0.05)
        closing.join()
        assert time.monotonic() - start < 6
    assert "Unable to commit offsets" in caplog.text
    assert any("committing offsets" in text and "group coordinator" in text for text in said)
    assert p.closed and c.closed
