"""The runner's engine over in-memory clients: outputs, routing, policies, concurrency."""

from __future__ import annotations

import io
import signal
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from streamprocessor import Message, options
from streamprocessor.clients import inmem
from streamprocessor.runner import (
    HandlerFailedError,
    HandlerOutputError,
    Runner,
    RunnerSettings,
    to,
)
from streamprocessor.stores import InmemStore
from streamprocessor.stream import ClientClosedError, ConfigError
from streamprocessor.testing.harness import run_handler
from streamprocessor.util import COORDINATOR

VALUES = [b"a", b"b", b"c"]


def upper(msg: Message) -> Message:
    assert msg.value is not None
    return Message(value=msg.value.upper(), key=msg.key)


def test_handler_returning_none_produces_nothing_and_acknowledges() -> None:
    result = run_handler(lambda m: None, VALUES)
    assert result.messages == []
    assert result.unacknowledged == 0
    assert result.totals["in"] == 3


def test_handler_returning_one_message_produces_it() -> None:
    assert run_handler(upper, VALUES).values == [b"A", b"B", b"C"]


def test_handler_returning_a_list_produces_every_message_in_order() -> None:
    result = run_handler(lambda m: [m, m], VALUES)
    assert result.values == [b"a", b"a", b"b", b"b", b"c", b"c"]
    assert result.totals["out"] == 6


def test_handler_returning_a_generator_produces_every_message() -> None:
    def gen(m: Message) -> Iterator[Message]:
        yield m
        yield Message(value=b"+")

    assert run_handler(gen, [b"a"]).values == [b"a", b"+"]


def test_filter_drops_messages() -> None:
    result = run_handler(lambda m: m if m.value != b"b" else None, VALUES)
    assert result.values == [b"a", b"c"]
    assert result.unacknowledged == 0


def test_to_routes_to_the_named_producer() -> None:
    def route(m: Message) -> object:
        return to("odd", m) if m.value == b"b" else m

    result = run_handler(route, VALUES, producers=["odd"])
    assert result.values == [b"a", b"c"]
    assert [m.value for m in result["odd"]] == [b"b"]


def test_to_producer_is_the_default_producer() -> None:
    assert run_handler(lambda m: to("producer", m), [b"a"]).values == [b"a"]


def test_routing_to_an_unconfigured_producer_is_a_handler_error() -> None:
    with pytest.raises(HandlerFailedError, match="add --producer nowhere") as info:
        run_handler(lambda m: to("nowhere", m), [b"a"])
    assert isinstance(info.value.__cause__, HandlerOutputError)


@pytest.mark.parametrize("bad", [b"bytes", "text", 42, {"a": 1}, [b"x"]])
def test_returning_something_else_than_messages_is_a_handler_error(bad: object) -> None:
    with pytest.raises(HandlerFailedError, match="handler"):
        run_handler(lambda m: bad, [b"a"])


def test_stop_policy_raises_and_leaves_the_message_unacknowledged() -> None:
    store = InmemStore()
    for v in VALUES:
        store.add(Message(value=v))
    seen = []

    def handler(m: Message) -> Message:
        seen.append(m.value)
        if m.value == b"b":
            raise ValueError("boom")
        return m

    with inmem.new_consumer(options.inmem_store(store), options.inmem_listen(),
                            options.manual_interrupt_handling()) as consumer, \
            inmem.new_producer(options.inmem_store(InmemStore()),
                               options.manual_interrupt_handling()) as producer:
        with pytest.raises(HandlerFailedError, match="ValueError: boom") as info:
            Runner(consumer, {"producer": producer}, handler).run()
        assert isinstance(info.value.__cause__, ValueError)
        assert info.value.attempts == 1
    assert seen == [b"a", b"b"]
    # listen mode: acknowledged messages leave the store; b and c are still there
    assert [m.value for m in store.messages()] == [b"b", b"c"]


def test_output_of_a_failing_generator_is_not_sent() -> None:
    def half(m: Message) -> Iterator[Message]:
        yield m
        raise RuntimeError("halfway")

    with pytest.raises(HandlerFailedError):
        run_handler(half, [b"a"])
    result = run_handler(half, [b"a"], on_error="skip")
    assert result.messages == []


def test_retries_call_the_handler_again_and_succeed() -> None:
    calls = []

    def flaky(m: Message) -> Message:
        calls.append(m.value)
        if len(calls) < 3:
            raise ConnectionError("try again")
        return m

    result = run_handler(flaky, [b"a"], retries=2, retry_backoff="1ms")
    assert result.values == [b"a"]
    assert calls == [b"a", b"a", b"a"]
    assert result.totals["errors"] == 2


def test_retries_back_off_exponentially() -> None:
    s = RunnerSettings(retry_backoff=timedelta(milliseconds=100),
                       retry_backoff_max=timedelta(milliseconds=350))
    assert [s.backoff(i) for i in (1, 2, 3, 4)] == [0.1, 0.2, 0.35, 0.35]


def test_stop_after_retries_reports_the_attempts() -> None:
    with pytest.raises(HandlerFailedError, match="after 3 attempt") as info:
        run_handler(_always_fails, [b"a"], retries=2, retry_backoff="0s")
    assert info.value.attempts == 3


def _always_fails(m: Message) -> None:
    raise KeyError("poison")


def test_skip_policy_logs_and_acknowledges(caplog: pytest.LogCaptureFixture) -> None:
    result = run_handler(
        lambda m: _always_fails(m) if m.value == b"b" else m, VALUES, on_error="skip"
    )
    assert result.values == [b"a", b"c"]
    assert result.unacknowledged == 0
    assert result.totals["skipped"] == 1
    assert any("Skipping message" in r.getMessage() and "KeyError" in r.getMessage()
               for r in caplog.records)


def test_dead_letter_policy_sends_the_message_with_the_error_in_its_tags() -> None:
    msg = Message(value=b"poison", key=b"k", tags={"t": b"1"}, consumer_topic="in", offset=7)
    result = run_handler(_always_fails, [msg], on_error="dead-letter", retries=1,
                         retry_backoff="0s", dead_letter_topic="dlq")
    assert result.messages == []
    assert result.unacknowledged == 0
    [dl] = result.dead_letters
    assert (dl.value, dl.key, dl.producer_topic) == (b"poison", b"k", "dlq")
    assert dl.tags["t"] == b"1"
    assert dl.tags["error"] == b"'poison'"
    assert dl.tags["error.type"] == b"KeyError"
    assert dl.tags["error.attempts"] == b"2"
    assert dl.tags["source.topic"] == b"in"
    assert dl.tags["source.offset"] == b"7"


def test_dead_letter_to_the_default_producer() -> None:
    result = run_handler(_always_fails, [b"x"], on_error="dead-letter",
                         dead_letter_producer="producer")
    assert [m.tags["error.type"] for m in result.messages] == [b"KeyError"]


def test_a_poison_message_is_handled_a_bounded_number_of_times() -> None:
    calls = []

    def poison(m: Message) -> None:
        calls.append(1)
        raise ValueError("never works")

    run_handler(poison, [b"p"], on_error="skip", retries=4, retry_backoff="0s")
    assert len(calls) == 5


def test_shutdown_during_a_retry_leaves_the_message_unacknowledged() -> None:
    COORDINATOR.interrupted = signal.SIGTERM  # as if SIGTERM arrived
    try:
        started = time.monotonic()
        result = run_handler(_always_fails, [b"a"], retries=3, retry_backoff="10s")
    finally:
        COORDINATOR.reset()
    assert time.monotonic() - started < 5
    assert result.unacknowledged == 1
    assert result.messages == []


def test_concurrency_keeps_order_per_key() -> None:
    inputs = [Message(value=f"{k}-{i}".encode(), key=k.encode())
              for i in range(200) for k in "abcdefgh"]

    def slow(m: Message) -> Message:
        if m.key == b"a":
            time.sleep(0.0005)
        return m

    result = run_handler(slow, inputs, concurrency=4)
    assert result.unacknowledged == 0
    assert len(result.messages) == len(inputs)
    for k in "abcdefgh":
        got = [m.value for m in result.messages if m.key == k.encode()]
        assert got == [f"{k}-{i}".encode() for i in range(200)]


def test_concurrency_runs_handlers_in_parallel() -> None:
    active = 0
    peak = 0
    lock = threading.Lock()

    def io_bound(m: Message) -> Message:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.02)
        with lock:
            active -= 1
        return m

    inputs = [Message(value=b"v", key=str(i).encode()) for i in range(40)]
    started = time.monotonic()
    result = run_handler(io_bound, inputs, concurrency=8)
    assert len(result.messages) == 40
    assert peak > 1
    assert time.monotonic() - started < 40 * 0.02


def test_concurrency_stop_policy_raises_and_stops() -> None:
    inputs = [Message(value=str(i).encode(), key=str(i % 3).encode()) for i in range(300)]

    def fails_at_50(m: Message) -> Message:
        if m.value == b"50":
            raise ValueError("fifty")
        return m

    with pytest.raises(HandlerFailedError, match="fifty"):
        run_handler(fails_at_50, inputs, concurrency=3)


def test_concurrency_with_policies() -> None:
    inputs = [Message(value=str(i).encode(), key=str(i).encode()) for i in range(100)]
    result = run_handler(
        lambda m: _always_fails(m) if int(m.value or 0) % 10 == 0 else m,
        inputs, concurrency=4, on_error="dead-letter",
    )
    assert len(result.messages) == 90
    assert len(result.dead_letters) == 10
    assert result.unacknowledged == 0


def test_forwarding_without_a_handler_sends_messages_unchanged() -> None:
    store_in, store_out = InmemStore(), InmemStore()
    msg = Message(value=b"v", key=b"k", tags={"a": b"b"})
    store_in.add(msg)
    with inmem.new_consumer(options.inmem_store(store_in),
                            options.manual_interrupt_handling()) as consumer, \
            inmem.new_producer(options.inmem_store(store_out),
                               options.manual_interrupt_handling()) as producer:
        runner = Runner(consumer, {"producer": producer})
        runner.run()
        assert consumer.backlog() == 0
    assert store_out.messages() == [msg]
    assert runner.totals()["out"] == 1


def test_the_dead_letter_policy_needs_its_producer() -> None:
    with inmem.new_consumer(options.inmem_store(InmemStore()),
                            options.manual_interrupt_handling()) as consumer, \
            pytest.raises(HandlerOutputError, match="dead_letter"):
        Runner(consumer, {}, upper, RunnerSettings(on_error="dead-letter"))


def test_a_stuck_handler_ends_the_process_with_status_1(
        caplog: pytest.LogCaptureFixture) -> None:
    codes: list[int] = []
    store = InmemStore()
    store.add(Message(value=b"slow"))

    def stuck(m: Message) -> Message:
        time.sleep(1.5)
        return m

    with inmem.new_consumer(options.inmem_store(store),
                            options.manual_interrupt_handling()) as consumer, \
            inmem.new_producer(options.inmem_store(InmemStore()),
                               options.manual_interrupt_handling()) as producer:
        runner = Runner(consumer, {"producer": producer}, stuck,
                        RunnerSettings(handler_timeout=timedelta(milliseconds=300)),
                        exit=codes.append)
        # the fake exit returns, so the handler finishes on closed clients
        with pytest.raises(ClientClosedError):
            runner.run()
    assert codes == [1]
    assert any("handler timeout" in r.getMessage() for r in caplog.records)


def test_handler_timeout_is_automatic_for_kafka_only() -> None:
    from streamprocessor.runner._watchdog import handler_limit

    s = RunnerSettings()
    with inmem.new_consumer(options.inmem_store(InmemStore()),
                            options.manual_interrupt_handling()) as consumer:
        assert handler_limit(consumer, True, s) is None
        consumer.config.type = "kafka"
        assert handler_limit(consumer, True, s) == 300.0
        assert handler_limit(consumer, False, s) is None
        consumer.config.kafka.max_poll_interval = timedelta(seconds=42)
        assert handler_limit(consumer, True, s) == 42.0
        assert handler_limit(consumer, True, s.replace(handler_timeout=timedelta(0))) is None


def test_partition_of_reads_the_partition_of_the_consumers_opaque() -> None:
    from streamprocessor.runner._engine import partition_of
    from streamprocessor.stream import set_message_opaque

    class State:
        partition = 3

    m = Message(value=b"v")
    assert partition_of(m) is None
    set_message_opaque(m, (State(), 17))
    assert partition_of(m) == 3


def test_messages_of_one_partition_go_to_one_worker() -> None:
    from streamprocessor.stream import set_message_opaque

    class State:
        def __init__(self, p: int) -> None:
            self.partition = p

    store = InmemStore()
    with inmem.new_consumer(options.inmem_store(store),
                            options.manual_interrupt_handling()) as consumer:
        runner = Runner(consumer, {"producer": consumer}, upper,  # type: ignore[dict-item]
                        RunnerSettings(concurrency=4))
        lanes = set()
        for i in range(20):
            m = Message(value=b"v", key=str(i).encode(), consumer_topic="t")
            set_message_opaque(m, (State(2), i))
            lanes.add(runner._lane_of(m, 4))
        assert len(lanes) == 1


def test_a_failure_with_workers_ends_a_consumer_that_waits_for_input() -> None:
    store = InmemStore()
    for i in range(10):
        store.add(Message(value=str(i).encode(), key=str(i).encode()))

    def fails_at_5(m: Message) -> Message:
        if m.value == b"5":
            raise ValueError("five")
        return m

    with inmem.new_consumer(options.inmem_store(store), options.inmem_listen(),
                            options.manual_interrupt_handling()) as consumer, \
            inmem.new_producer(options.inmem_store(InmemStore()),
                               options.manual_interrupt_handling()) as producer:
        started = time.monotonic()
        with pytest.raises(HandlerFailedError, match="five"):
            Runner(consumer, {"producer": producer}, fails_at_5,
                   RunnerSettings(concurrency=3)).run()
        assert time.monotonic() - started < 5
    assert b"5" in [m.value for m in store.messages()]


def test_partitions_take_the_workers_in_turn() -> None:
    from streamprocessor.stream import set_message_opaque

    class State:
        def __init__(self, p: int) -> None:
            self.partition = p

    with inmem.new_consumer(options.inmem_store(InmemStore()),
                            options.manual_interrupt_handling()) as consumer:
        runner = Runner(consumer, {"producer": consumer}, upper,  # type: ignore[dict-item]
                        RunnerSettings(concurrency=3))
        picked = []
        for p in (0, 1, 2, 0, 1, 2):
            m = Message(value=b"v", consumer_topic="t")
            set_message_opaque(m, (State(p), 0))
            picked.append(runner._lane_of(m, 3))
        assert picked == [0, 1, 2, 0, 1, 2]


def test_an_interrupt_mid_batch_stops_after_the_message_in_hand() -> None:
    store = InmemStore()
    for v in [b"a", b"b", b"c", b"d"]:
        store.add(Message(value=v))
    seen = []
    with inmem.new_consumer(options.inmem_store(store), options.inmem_listen(),
                            options.manual_interrupt_handling()) as consumer, \
            inmem.new_producer(options.inmem_store(InmemStore()),
                               options.manual_interrupt_handling()) as producer:

        def handler(m: Message) -> Message:
            seen.append(m.value)
            if m.value == b"b":
                consumer.interrupt()  # what a SIGTERM does (all four are fetched already)
            return m

        Runner(consumer, {"producer": producer}, handler).run()
    assert seen == [b"a", b"b"]
    # the handled ones are acknowledged (they left the store), the others wait
    assert [m.value for m in store.messages()] == [b"c", b"d"]


class _PlainConsumer:
    """A consumer of the protocol only: iteration and ack, no batch interface."""

    def __init__(self, values: list[bytes]) -> None:
        self.messages = [Message(value=v) for v in values]
        self.acked: list[bytes | None] = []

    def __iter__(self) -> Iterator[Message]:
        return iter(self.messages)

    def ack(self, msg: Message) -> None:
        self.acked.append(msg.value)


def test_a_consumer_without_the_batch_interface_is_read_one_message_at_a_time() -> None:
    consumer = _PlainConsumer([b"a", b"b", b"c"])
    out = InmemStore()
    with inmem.new_producer(options.inmem_store(out),
                            options.manual_interrupt_handling()) as producer:
        Runner(consumer, {"producer": producer}, upper).run()  # type: ignore[arg-type]
    assert consumer.acked == [b"a", b"b", b"c"]
    assert [m.value for m in out.messages()] == [b"A", b"B", b"C"]


def _seen_by_handler(settings: RunnerSettings, probe: Callable[[], object]) -> object:
    """Run one message through a Runner over in-memory clients; return what ``probe()``
    returned inside the handler."""
    store = InmemStore()
    store.add(Message(value=b"a"))
    seen = []

    def handler(m: Message) -> None:
        seen.append(probe())

    with inmem.new_consumer(options.inmem_store(store),
                            options.manual_interrupt_handling()) as consumer, \
            inmem.new_producer(options.inmem_store(InmemStore()),
                               options.manual_interrupt_handling()) as producer:
        Runner(consumer, {"producer": producer}, handler, settings).run()
    [value] = seen
    return value


@pytest.mark.parametrize("freeze", [True, False])
def test_the_run_freezes_what_is_alive_at_its_start_and_unfreezes_after(freeze: bool) -> None:
    import gc

    before = gc.get_freeze_count()  # (Python 3.12 starts with a few of its own frozen)
    during = _seen_by_handler(RunnerSettings(freeze_gc=freeze), gc.get_freeze_count)
    assert isinstance(during, int)
    assert (during > before) is freeze
    assert gc.get_freeze_count() == (0 if freeze else before)


def test_the_run_leaves_what_the_program_froze_frozen() -> None:
    import gc

    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        during = _seen_by_handler(RunnerSettings(freeze_gc=True), gc.get_freeze_count)
        assert (during, gc.get_freeze_count()) == (frozen, frozen)
    finally:
        gc.unfreeze()


@pytest.mark.parametrize("threshold", [20_000, 1234, None])
def test_the_run_sets_the_young_generation_threshold_and_restores_it(threshold: int | None) -> None:
    import gc

    before = gc.get_threshold()
    during = _seen_by_handler(RunnerSettings(gc_threshold=threshold), gc.get_threshold)
    assert during == (before if threshold is None else (threshold, *before[1:]))
    assert gc.get_threshold() == before


def test_a_gc_threshold_below_one_is_refused() -> None:
    with pytest.raises(ConfigError, match="gc_threshold must be at least 1"):
        RunnerSettings(gc_threshold=0)


@pytest.mark.parametrize("concurrency", [1, 3])
def test_a_stop_leaves_a_file_at_the_first_line_not_handled_even_out_of_order(
    tmp_path: Path, concurrency: int
) -> None:
    from streamprocessor.clients import standardstream

    lines = [b"%d" % i for i in range(20_000)]
    path = tmp_path / "in"
    path.write_bytes(b"\n".join(lines) + b"\n")
    out = io.BytesIO()
    handled = 0
    with path.open("rb", buffering=0) as f:
        c = standardstream.new_consumer(options.standardstream_reader(f),
                                        options.manual_interrupt_handling())
        p = standardstream.new_producer(options.standardstream_writer(out),
                                        options.manual_interrupt_handling())

        def uneven(m: Message) -> Message:
            nonlocal handled
            assert m.value is not None
            if int(m.value) % 3 == 0:  # all on one worker: it falls behind the others
                time.sleep(0.002)
            handled += 1
            if handled == 300:
                c.interrupt()  # what SIGTERM does
            return m

        with c, p:
            Runner(c, {"producer": p}, uneven, RunnerSettings(concurrency=concurrency)).run()
        rest = f.read().split(b"\n")[:-1]
    got = out.getvalue().split(b"\n")[:-1]
    assert 300 <= len(got) < 1_000
    assert rest == lines[len(lines) - len(rest):]  # the file goes on after the last handled
    assert sorted(got + rest, key=int) == lines  # nothing lost, nothing twice
