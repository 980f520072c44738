"""The runner's workers on the real broker: one slow partition does not hold up the others.

With ``--concurrency``, each partition has its lane. A lane that is full while another
worker waits for input makes the consumer pause that lane's partitions, so the others
keep being fetched; the lane resumes once its worker has caught up. librdkafka then
fetches again from the record after the last one handed out: these tests check that
nothing is skipped, duplicated or reordered across many pause/resume cycles.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import Producer

from streamprocessor import options
from streamprocessor.clients import kafka
from streamprocessor.clients.kafka import testing as kt
from streamprocessor.runner import Runner, RunnerSettings
from streamprocessor.runner import _engine as engine
from streamprocessor.stream.message import Message

TIMEOUT = 60.0


def fill(brokers: str, topic: str, counts: dict[int, int]) -> None:
    """Produce ``p<partition>-<i>`` values to the given partitions, 10 to a record batch
    (a fetch returns at least one whole batch)."""
    p = Producer({"bootstrap.servers": brokers, "linger.ms": 5, "batch.num.messages": 10})
    for part, n in counts.items():
        for i in range(n):
            p.produce(topic, b"p%d-%d" % (part, i), b"k", partition=part)
    assert p.flush(30) == 0


def until(cond: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.01)


def start(
    brokers: str,
    src: str,
    dst: str,
    handler: Callable[[Message], Any],
    *extra: Any,
    **settings: Any,
) -> tuple[Any, Any, Runner, threading.Thread]:
    group = kt.random_name("lanes")
    c = kafka.new_consumer(
        *kt.consumer_options(brokers, src, group), options.manual_interrupt_handling(), *extra
    )
    p = kafka.new_producer(*kt.producer_options(brokers, dst))
    runner = Runner(c, {"producer": p}, handler, RunnerSettings(handler_timeout=None, **settings))
    errors: list[BaseException] = []

    def run() -> None:
        try:
            runner.run()
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    t = threading.Thread(target=run, name="test-runner")
    t.start()
    t.errors = errors  # type: ignore[attr-defined]
    return c, p, runner, t


def stop(c: Any, p: Any, t: threading.Thread) -> None:
    c.interrupt()  # as SIGTERM does
    t.join(TIMEOUT)
    assert not t.is_alive()
    c.close()
    p.close()
    assert not t.errors, t.errors  # type: ignore[attr-defined]


def by_partition(msgs: list[Message]) -> dict[int, list[bytes]]:
    out: dict[int, list[bytes]] = {}
    for m in msgs:
        assert m.value is not None
        part = int(m.value.split(b"-")[0][1:])
        out.setdefault(part, []).append(m.value)
    return out


def test_a_stuck_partition_does_not_hold_up_the_others(
    kafka_brokers: str, kafka_topic: Callable[..., str]
) -> None:
    src, dst = kafka_topic(partitions=2), kafka_topic()
    fill(kafka_brokers, src, {0: 300, 1: 300})
    release = threading.Event()

    def handler(m: Message) -> Message:
        assert m.value is not None
        if m.value.startswith(b"p0-"):
            assert release.wait(TIMEOUT)
        return Message(value=m.value, key=m.key)

    c, p, runner, t = start(kafka_brokers, src, dst, handler, concurrency=2, queue_size=4)
    try:
        # every message of partition 1 goes through while partition 0's worker is stuck,
        # and the consumer paused partition 0 meanwhile
        until(
            lambda: sum(la.n_out for la in runner.lanes) == 300 and c._source._paused == {(src, 0)},
            "partition 1 is copied and partition 0 paused",
        )
        assert max(la.waiting for la in runner.lanes) <= 300  # what was fetched, no more
    finally:
        release.set()
    until(lambda: sum(la.n_out for la in runner.lanes) == 600, "partition 0 is copied")
    until(lambda: not (c._source._paused or c._source._resuming), "partition 0 is resumed")
    stop(c, p, t)
    out = by_partition(kt.read_messages(kafka_brokers, dst))
    assert out == {q: [b"p%d-%d" % (q, i) for i in range(300)] for q in (0, 1)}
    assert kt.committed_offsets(kafka_brokers, c.config.kafka.group_id, src) == {0: 300, 1: 300}


def test_pause_and_resume_cycles_skip_and_repeat_nothing(
    kafka_brokers: str,
    kafka_topic: Callable[..., str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A slow partition next to a quick one: its lane fills, pauses and resumes many
    times; every record still comes exactly once and in order."""
    # pause at 20 ms of waiting work, resume at 10 ms (1 s and 0.5 s in production): many
    # cycles in a short test
    monkeypatch.setattr(engine, "_PAUSE_BACKLOG", 0.02)
    monkeypatch.setattr(engine, "_RESUME_BACKLOG", 0.01)
    src, dst = kafka_topic(partitions=2), kafka_topic()
    n0, n1 = 1500, 300
    fill(kafka_brokers, src, {0: n0, 1: n1})
    seen: dict[int, list[bytes]] = {0: [], 1: []}

    def handler(m: Message) -> Message:
        assert m.value is not None
        part = int(m.value.split(b"-")[0][1:])
        seen[part].append(m.value)
        if part == 0:
            time.sleep(0.002)
        return Message(value=m.value, key=m.key)

    caplog.set_level(logging.DEBUG, logger="streamprocessor")
    # small fetches: the slow partition comes in many pieces, each over the lane's limit
    small = options.kafka_librdkafka_config({"max.partition.fetch.bytes": "2048"})
    c, p, runner, t = start(
        kafka_brokers, src, dst, handler, small, concurrency=2, queue_size=8
    )
    until(lambda: sum(la.n_out for la in runner.lanes) == n0 + n1, "everything is copied")
    pauses = [r for r in caplog.records if r.getMessage().startswith("Paused ")]
    stop(c, p, t)
    expected = {q: [b"p%d-%d" % (q, i) for i in range(n)] for q, n in ((0, n0), (1, n1))}
    assert seen == expected  # handled once each, in order
    assert by_partition(kt.read_messages(kafka_brokers, dst)) == expected
    assert len(pauses) >= 5, "the slow lane was expected to pause and resume many times"
    assert kt.committed_offsets(kafka_brokers, c.config.kafka.group_id, src) == {0: n0, 1: n1}
