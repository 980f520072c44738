"""The standardstream producer: line format, buffering and flushing, errors, the ack barrier."""

from __future__ import annotations

import io
import os
import threading
import time
from typing import Any

import pytest

from streamprocessor import ClientClosedError, ClientError, Message, options
from streamprocessor.clients import inmem, standardstream
from streamprocessor.clients.front import run_idle_hooks
from streamprocessor.clients.standardstream.producer import StandardstreamSink
from streamprocessor.stores import InmemStore
from streamprocessor.util.barrier import BARRIER


class CountingWriter(io.BytesIO):
    """A BytesIO that counts its write calls."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, b: Any) -> int:
        self.writes += 1
        return super().write(b)


class FailingWriter(io.RawIOBase):
    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        raise OSError(28, "No space left on device")


def producer(out: Any, *opts: Any) -> standardstream.StandardstreamProducer:
    return standardstream.new_producer(options.standardstream_writer(out), *opts)


@pytest.mark.parametrize(
    ("value", "written"),
    [
        (b"plain", b"plain\n"),
        (b"ends\n", b"ends\n"),  # a newline is added only when missing
        (b"", b"\n"),  # an empty value is an empty line
        (None, b"\n"),  # so is a tombstone
        (b"two\nlines", b"two\nlines\n"),
        (b"crlf\r\n", b"crlf\r\n"),
        (b"\x00\xff", b"\x00\xff\n"),
    ],
)
def test_each_value_is_written_as_one_line(value: bytes | None, written: bytes) -> None:
    out = io.BytesIO()
    with producer(out) as p:
        p.send(Message(value=b"before"))
        p.send(Message(value=value))
        p.send(Message(value=b"after"))
    assert out.getvalue() == b"before\n" + written + b"after\n"


def test_only_the_value_is_written() -> None:
    out = io.BytesIO()
    with producer(out) as p:
        p.send(
            Message(value=b"v", key=b"k", tags={"t": b"x"}, producer_topic="elsewhere", offset=3)
        )
    assert out.getvalue() == b"v\n"


def test_sends_are_buffered_until_flush() -> None:
    out = CountingWriter()
    p = producer(out)
    p.send(Message(value=b"one"))
    assert out.getvalue() == b""
    p.flush()
    assert out.getvalue() == b"one\n"
    p.close()


def test_the_idle_hook_writes_what_is_buffered() -> None:
    out = io.BytesIO()
    with producer(out) as p:
        p.send(Message(value=b"prompt"))
        run_idle_hooks()  # what a consumer calls before it waits for input
        assert out.getvalue() == b"prompt\n"


def test_many_sends_make_few_writes_in_order() -> None:
    out = CountingWriter()
    with producer(out) as p:
        for i in range(100_000):
            p.send(Message(value=b"%099d" % i))
    lines = out.getvalue().split(b"\n")
    assert lines[-1] == b"" and len(lines) == 100_001
    assert lines[:-1] == [b"%099d" % i for i in range(100_000)]
    assert out.writes < 100_000 / 100  # blocks of about 64 KiB, not a write per line


def test_the_buffer_is_bounded_for_large_values() -> None:
    out = CountingWriter()
    big = b"b" * 1_000_000
    with producer(out) as p:
        for _ in range(50):
            p.send(Message(value=big))
        # writes happened while sending: the buffer does not hold all 50 MB
        assert out.writes > 1
    assert out.getvalue() == (big + b"\n") * 50


def test_close_flushes_is_idempotent_and_leaves_the_writer_open() -> None:
    out = io.BytesIO()
    p = producer(out)
    p.send(Message(value=b"x"))
    p.close()
    p.close()
    assert out.getvalue() == b"x\n"
    assert not out.closed
    with pytest.raises(ClientClosedError, match="closed"):
        p.send(Message(value=b"late"))
    with pytest.raises(ClientClosedError, match="closed"):
        p.flush()


def test_sending_something_else_is_a_clear_error() -> None:
    with producer(io.BytesIO()) as p:
        with pytest.raises(ClientError, match="Message"):
            p.send(b"raw")  # type: ignore[arg-type]
        with pytest.raises(ClientError, match="encode"):
            p.send(Message(value="text"))  # type: ignore[arg-type]
        with pytest.raises(ClientError, match="bytes"):
            p.send(Message(value=bytearray(b"mutable")))  # type: ignore[arg-type]
        p.send(Message(value=b"still fine"))


def test_sends_from_many_threads_all_arrive() -> None:
    out = io.BytesIO()
    p = producer(out)

    def run(t: int) -> None:
        for i in range(5000):
            p.send(Message(value=b"t%d-%d" % (t, i)))

    threads = [threading.Thread(target=run, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    p.close()
    lines = out.getvalue().split(b"\n")[:-1]
    assert sorted(lines) == sorted(b"t%d-%d" % (t, i) for t in range(4) for i in range(5000))
    for t in range(4):  # each thread's lines in its order
        mine = [x for x in lines if x.startswith(b"t%d-" % t)]
        assert mine == [b"t%d-%d" % (t, i) for i in range(5000)]


def test_a_write_error_is_raised_at_the_next_call() -> None:
    p = producer(FailingWriter())
    p.send(Message(value=b"lost"))
    with pytest.raises(ClientError, match=r"unable to write message to stream: .*No space"):
        p.flush()
    with pytest.raises(ClientClosedError):
        p.send(Message(value=b"after"))


def test_a_write_error_arrives_on_errors_with_manual_handling() -> None:
    p = producer(FailingWriter(), options.manual_error_handling())
    p.send(Message(value=b"lost"))
    p.flush()  # does not raise
    p.close()
    errs = list(p.errors())
    assert len(errs) >= 1 and all(isinstance(e, ClientError) for e in errs)


def test_a_broken_pipe_on_a_writer_other_than_stdout_is_an_error() -> None:
    r, w = os.pipe()
    os.close(r)
    with os.fdopen(w, "wb", buffering=0) as out:
        p = producer(out)
        p.send(Message(value=b"x"))
        with pytest.raises(ClientError, match="Broken pipe"):
            p.flush()


# -- the ack barrier ---------------------------------------------------------------------


def test_sends_are_counted_by_the_barrier_until_written() -> None:
    out = io.BytesIO()
    with producer(out) as p:
        tracker = p._tracker
        assert tracker in BARRIER.trackers
        p.send(Message(value=b"a"))
        p.send(Message(value=b"b"))
        assert dict(BARRIER.marks()).get(tracker) == 2
        assert tracker.pending == 2
        p.flush()
        assert tracker.pending == 0
        assert tracker not in dict(BARRIER.marks())
    assert tracker not in BARRIER.trackers


def test_an_ack_after_a_send_to_stdout_commits_only_once_the_line_is_written() -> None:
    source = InmemStore()
    source.add(Message(value=b"in"))
    out = io.BytesIO()
    c = inmem.new_consumer(options.inmem_store(source), options.inmem_listen())
    p = producer(out)
    it = iter(c)
    m = next(it)
    p.send(Message(value=b"out"))
    c.ack(m)
    assert len(source) == 1  # not committed: the line is still in the buffer
    assert out.getvalue() == b""
    c.close()  # flushes the producer its ack waits on, then commits
    assert out.getvalue() == b"out\n"
    assert len(source) == 0
    p.close()


def test_an_ack_whose_line_could_not_be_written_is_not_committed() -> None:
    source = InmemStore()
    source.add(Message(value=b"in"))
    c = inmem.new_consumer(options.inmem_store(source), options.inmem_listen())
    p = producer(FailingWriter(), options.manual_error_handling())
    m = next(iter(c))
    p.send(Message(value=b"out"))
    c.ack(m)
    c.close()
    assert len(source) == 1  # it will be consumed again
    p.close()


def test_producers_writing_to_the_same_output_keep_the_order_of_their_sends() -> None:
    out, other = CountingWriter(), CountingWriter()
    a, b, c = producer(out), producer(out), producer(other)
    try:
        sink = c._sink
        assert isinstance(sink, StandardstreamSink)
        assert c.send == sink.send  # (alone on its output: the plain send)
        assert a.send != a._sink.send  # (sharing one: the send that keeps the order)
        for i in range(6):
            (a if i % 3 else b).send(Message(value=b"%d" % i))
            c.send(Message(value=b"c%d" % i))
        a.flush()
        b.flush()
        c.flush()
        assert out.getvalue() == b"0\n1\n2\n3\n4\n5\n"
        assert other.getvalue() == b"c0\nc1\nc2\nc3\nc4\nc5\n"
    finally:
        for p in (a, b, c):
            p.close()


def test_pending_output_is_written_within_the_flush_interval_without_an_idle_input() -> None:
    # a slow handler: the consumer never waits for input, yet output keeps coming
    from streamprocessor.clients.standardstream.producer import FLUSH_INTERVAL

    out = io.BytesIO()
    with producer(out) as p:
        for i in range(3):
            p.send(Message(value=b"line %d" % i))
            deadline = time.monotonic() + 5
            while out.getvalue().count(b"\n") <= i and time.monotonic() < deadline:
                time.sleep(0.005)
            waited = time.monotonic() - (deadline - 5)
            assert out.getvalue().count(b"\n") == i + 1
            assert waited < FLUSH_INTERVAL + 0.2  # (slack for a loaded machine)
