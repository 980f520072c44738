"""A third-party consumer that implements BatchConsumer gets the runner's batch path."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import Any, Self

from streamprocessor import BatchConsumer, Message, options
from streamprocessor.clients import inmem
from streamprocessor.runner import Runner, RunnerSettings
from streamprocessor.stores import InmemStore
from streamprocessor.stream.protocols import has_batches


class ListConsumer:
    """Batches of a fixed list, two partitions; records every call the runner makes."""

    def __init__(self, batches: list[list[Message]]) -> None:
        self._batches = batches
        self.halted = False
        self.calls: list[str] = []
        self.acked: list[bytes | None] = []
        self.paused: list[object] = []
        self.resumed: list[object] = []
        self.lock = threading.Lock()
        self.config: Any = None

    def batches(self) -> Iterator[list[Message]]:
        self.calls.append("batches")
        for batch in self._batches:
            yield list(batch)

    def __iter__(self) -> Iterator[Message]:
        raise AssertionError("the runner iterates a BatchConsumer by batches")

    def messages(self) -> Iterator[Message]:
        raise AssertionError("the runner iterates a BatchConsumer by batches")

    def ack(self, msg: Message) -> None:
        with self.lock:
            self.acked.append(msg.value)

    def ack_batch(self, msgs: Sequence[Message]) -> None:
        self.calls.append("ack_batch")
        with self.lock:
            self.acked.extend(m.value for m in msgs)

    def nack(self, msg: Message) -> None:
        raise AssertionError("not used")

    def give_back(self, msgs: Sequence[Message]) -> list[Message]:
        return []

    def pause(self, msgs: Sequence[Message]) -> list[object] | None:
        parts = sorted({m.partition for m in msgs})
        with self.lock:
            self.paused.extend(parts)
        return list(parts)

    def resume(self, paused: Sequence[object]) -> None:
        with self.lock:
            self.resumed.extend(paused)

    def rewind_uncommitted(self) -> None:
        return None

    def backlog(self) -> int:
        return 0

    def errors(self) -> list[BaseException]:
        return []

    def close(self) -> None:
        pass

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _msgs(n: int, partition: int) -> list[Message]:
    return [
        Message(value=b"p%d-%d" % (partition, i), consumer_topic="t", partition=partition)
        for i in range(n)
    ]


def test_the_protocol_is_recognised_statically() -> None:
    c = ListConsumer([])
    assert has_batches(c)  # type: ignore[arg-type]
    assert isinstance(c, BatchConsumer)
    with inmem.new_consumer(options.inmem_store(InmemStore())) as ours:
        assert has_batches(ours)


def test_a_batch_consumer_is_run_by_batches_and_acknowledged_per_batch() -> None:
    c = ListConsumer([_msgs(3, 0), _msgs(2, 0)])
    out = InmemStore()
    with inmem.new_producer(options.inmem_store(out)) as p:
        Runner(c, {"producer": p}, lambda m: m).run()  # type: ignore[arg-type]
    assert c.calls == ["batches", "ack_batch", "ack_batch"]
    assert c.acked == [m.value for m in _msgs(3, 0) + _msgs(2, 0)]
    assert len(out) == 5


def test_a_worker_that_falls_behind_has_its_partition_paused_then_resumed() -> None:
    def handler(msg: Message) -> None:
        if msg.partition == 0:
            time.sleep(0.3)  # partition 0's worker falls behind by more than a second

    # batches of partition 0, then of partition 1: the runner pauses partition 0
    c = ListConsumer([_msgs(4, 0) for _ in range(3)] + [_msgs(4, 1) for _ in range(2)])
    settings = RunnerSettings(concurrency=2, queue_size=2)
    with inmem.new_producer(options.inmem_store(InmemStore())) as p:
        Runner(c, {"producer": p}, handler, settings).run()  # type: ignore[arg-type]
    assert 0 in c.paused, "the runner never paused the slow partition"
    assert 0 in c.resumed
    assert sorted(v for v in c.acked if v is not None) == sorted(
        m.value for b in c._batches for m in b if m.value is not None
    )
