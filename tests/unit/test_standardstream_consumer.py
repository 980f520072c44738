"""The standardstream consumer: splitting, fields, acks, the line limit, pipes and waking.

Readers are BytesIO objects (read through ``read1``), regular files and ``os.pipe``s
(read through their descriptor, the pipe one with ``poll``). Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from streamprocessor import ClientClosedError, ClientError, LineTooLongError, Message, options
from streamprocessor.clients import standardstream
from streamprocessor.clients.standardstream.consumer import BLOCK_SIZE

LIMIT = 524_288


def consumer(data: bytes, *opts: Any) -> standardstream.StandardstreamConsumer:
    return standardstream.new_consumer(options.standardstream_reader(io.BytesIO(data)), *opts)


def values(data: bytes, *opts: Any) -> list[bytes | None]:
    with consumer(data, *opts) as c:
        return [m.value for m in c]


@pytest.fixture
def pipe() -> Any:
    r, w = os.pipe()
    reader = os.fdopen(r, "rb", buffering=0)
    yield reader, w
    reader.close()
    with contextlib.suppress(OSError):
        os.close(w)


# -- splitting (the original's catalogue, SPEC §5.1) -------------------------------------


@pytest.mark.parametrize(
    ("data", "want"),
    [
        (b"hello\nworld\n", [b"hello", b"world"]),
        (b"hello\nworld", [b"hello", b"world"]),  # a last line without newline
        (b"a\n\nb\n", [b"a", b"", b"b"]),  # an empty line is an empty message
        (b"\n", [b""]),
        (b"\n\n", [b"", b""]),
        (b"", []),
        (b"crlf\r\nnext\r\n", [b"crlf", b"next"]),  # one \r before \n is removed
        (b"two\r\r\n", [b"two\r"]),  # only one
        (b"mid\rdle\n", [b"mid\rdle"]),  # a \r elsewhere stays
        (b"last\r", [b"last"]),  # a last line ending in \r
        (b"  spaced \t\n", [b"  spaced \t"]),  # no other trimming
    ],
)
def test_lines_are_split_like_the_original(data: bytes, want: list[bytes]) -> None:
    assert values(data) == want


def test_bytes_pass_through_untouched() -> None:
    raw = [b"\x00\xff\xfe", "héllo".encode("latin-1"), "ünïcode ✓".encode(), b"\x1b[1m"]
    assert values(b"\n".join(raw) + b"\n") == raw


def test_100000_lines_arrive_in_order() -> None:
    data = b"".join(b"line %d\n" % i for i in range(100_000))
    assert values(data) == [b"line %d" % i for i in range(100_000)]


def test_100000_lines_arrive_in_order_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "in.txt"
    path.write_bytes(b"".join(b"line %d\n" % i for i in range(100_000)))
    with path.open("rb") as f, standardstream.new_consumer(options.standardstream_reader(f)) as c:
        got = [m.value for m in c]
    assert got == [b"line %d" % i for i in range(100_000)]


def test_each_message_keeps_its_own_value() -> None:
    with consumer(b"first\nsecond\nthird\n") as c:
        kept = list(c)  # retained across later reads
    assert [m.value for m in kept] == [b"first", b"second", b"third"]
    assert len({id(m) for m in kept}) == 3
    kept[0].value = b"changed"
    assert [m.value for m in kept[1:]] == [b"second", b"third"]


def test_lines_spanning_blocks_and_crlf_across_a_block_edge() -> None:
    long_line = b"y" * (3 * BLOCK_SIZE + 17)
    edge = b"x" * (BLOCK_SIZE - 1) + b"\r\n"  # the \r ends one block, \n starts the next
    assert values(edge + long_line + b"\nend\n") == [b"x" * (BLOCK_SIZE - 1), long_line, b"end"]


def test_other_fields_are_empty_and_tags_are_a_fresh_dict() -> None:
    with consumer(b"a\nb\n") as c:
        a, b = list(c)
    for m in (a, b):
        assert isinstance(m, Message)
        assert m.key is None
        assert m.consumer_topic == "" and m.producer_topic == ""
        assert m.tags == {}
    a.tags["t"] = b"1"
    assert b.tags == {}
    assert a.copy() == a


def test_timestamp_is_the_utc_time_the_line_was_read(pipe: Any) -> None:
    reader, w = pipe
    with standardstream.new_consumer(options.standardstream_reader(reader)) as c:
        it = iter(c)
        before = datetime.now(UTC)
        os.write(w, b"one\n")
        first = next(it)
        time.sleep(0.05)
        os.write(w, b"two\n")
        second = next(it)
        after = datetime.now(UTC)
    assert first.timestamp is not None and second.timestamp is not None
    assert first.timestamp.tzinfo is not None
    assert first.timestamp.utcoffset() is not None and not first.timestamp.utcoffset()
    assert before <= first.timestamp < second.timestamp <= after
    assert (second.timestamp - first.timestamp).total_seconds() >= 0.04


def test_iteration_ends_at_end_of_input_and_stays_ended() -> None:
    with consumer(b"only\n") as c:
        assert [m.value for m in c] == [b"only"]
        assert list(c) == []


# -- acks, nacks, backlog ----------------------------------------------------------------


def test_ack_is_accepted_and_backlog_is_zero() -> None:
    with consumer(b"a\nb\n") as c:
        assert c.backlog() == 0
        for m in c:
            c.ack(m)
            assert c.backlog() == 0


def test_nack_delivers_the_line_again_before_the_next() -> None:
    seen = []
    with consumer(b"a\nb\nc\n") as c:
        nacked = 0
        for m in c:
            seen.append(m.value)
            if m.value == b"b" and nacked < 2:
                nacked += 1
                c.nack(m)
            else:
                c.ack(m)
    assert seen == [b"a", b"b", b"b", b"b", b"c"]


def test_nack_of_the_last_line_delivers_it_again() -> None:
    seen = []
    with consumer(b"a\nz") as c:
        for m in c:
            seen.append(m.value)
            if m.value == b"z" and seen.count(b"z") == 1:
                c.nack(m)
    assert seen == [b"a", b"z", b"z"]


def test_a_nacked_message_comes_back_as_a_new_object_that_can_be_acked() -> None:
    with consumer(b"a\n") as c:
        it = iter(c)
        first = next(it)
        c.nack(first)
        again = next(it)
        assert again is not first and again == first
        c.ack(again)


def test_ack_or_nack_of_a_foreign_message_is_an_error() -> None:
    with consumer(b"a\n") as c, consumer(b"b\n") as other:
        theirs = next(iter(other))
        for bad in (Message(value=b"a"), theirs):
            with pytest.raises(ClientError, match="did not hand out"):
                c.ack(bad)
            with pytest.raises(ClientError, match="did not hand out"):
                c.nack(bad)
        with pytest.raises(ClientError, match="did not hand out"):
            c.ack(b"not a message")  # type: ignore[arg-type]


def test_ack_and_nack_after_close_raise_closed() -> None:
    c = consumer(b"a\n")
    m = next(iter(c))
    c.close()
    with pytest.raises(ClientClosedError, match="closed"):
        c.ack(m)
    with pytest.raises(ClientClosedError, match="closed"):
        c.nack(m)
    assert list(c) == []


def test_close_ends_an_iteration_in_progress() -> None:
    c = consumer(b"".join(b"%d\n" % i for i in range(1000)))
    got = []
    for m in c:
        got.append(m.value)
        if len(got) == 3:
            c.close()
    assert got == [b"0", b"1", b"2"]


def test_close_does_not_close_the_reader(tmp_path: Path) -> None:
    bio = io.BytesIO(b"a\n")
    with standardstream.new_consumer(options.standardstream_reader(bio)) as c:
        list(c)
    assert not bio.closed
    path = tmp_path / "f"
    path.write_bytes(b"a\n")
    with path.open("rb") as f:
        with standardstream.new_consumer(options.standardstream_reader(f)) as c:
            list(c)
        assert not f.closed


def test_a_file_already_read_from_is_read_from_its_position(tmp_path: Path) -> None:
    path = tmp_path / "with-header.txt"
    path.write_bytes(b"header\n" + b"".join(b"row %d\n" % i for i in range(5000)))
    with path.open("rb") as f:
        assert f.readline() == b"header\n"  # the file object read ahead past this
        with standardstream.new_consumer(options.standardstream_reader(f)) as c:
            got = [m.value for m in c]
    assert got == [b"row %d" % i for i in range(5000)]


# -- the line limit ----------------------------------------------------------------------


def test_a_line_of_exactly_the_limit_passes_and_one_byte_more_fails() -> None:
    ok = b"a" * LIMIT
    assert values(ok + b"\n" + ok + b"\r\n" + ok) == [ok, ok, ok]
    with consumer(b"before\n" + b"b" * (LIMIT + 1) + b"\nafter\n") as c:
        got = []
        with pytest.raises(LineTooLongError) as info:
            for m in c:
                got.append(m.value)
    assert got == [b"before"]
    text = str(info.value)
    assert "line 2" in text
    assert "524288 bytes" in text
    assert "options.standardstream_max_line_size" in text
    assert "CONSUMER_STANDARDSTREAM_MAX_LINE_SIZE" in text
    assert c.closed  # default error handling closes the client


def test_an_oversized_last_line_without_newline_fails() -> None:
    with consumer(b"ok\n" + b"z" * (LIMIT + 1)) as c:
        got = []
        with pytest.raises(LineTooLongError, match="line 2 "):
            for m in c:
                got.append(m.value)
    assert got == [b"ok"]


def test_the_limit_comes_from_the_option() -> None:
    assert values(b"12345\n", options.standardstream_max_line_size(5)) == [b"12345"]
    with consumer(b"1234\n123456\n1\n", options.standardstream_max_line_size(5)) as c:
        got = []
        with pytest.raises(LineTooLongError, match="maximum line size of 5 bytes"):
            for m in c:
                got.append(m.value)
    assert got == [b"1234"]  # the long line is in the middle of a block


def test_the_limit_comes_from_the_environment(stream_env: pytest.MonkeyPatch) -> None:
    stream_env.setenv("CONSUMER_STANDARDSTREAM_MAX_LINE_SIZE", "1000000")
    big = b"q" * 600_000
    assert values(big + b"\n") == [big]
    stream_env.setenv("CONSUMER_STANDARDSTREAM_MAX_LINE_SIZE", "3")
    with consumer(b"abcd\n") as c, pytest.raises(LineTooLongError, match="of 3 bytes"):
        list(c)


def test_a_named_consumer_names_its_own_variable() -> None:
    c = consumer(b"abcd\n", options.name("orders"), options.standardstream_max_line_size(2))
    with c, pytest.raises(LineTooLongError, match="ORDERS_CONSUMER_STANDARDSTREAM_MAX_LINE_SIZE"):
        list(c)


class EndlessLine(io.RawIOBase):
    """A reader of one endless line that counts what was read from it."""

    def __init__(self) -> None:
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def read1(self, n: int = -1) -> bytes:
        n = BLOCK_SIZE if n < 0 else n
        self.read_bytes += n
        return b"e" * n


def test_an_oversized_line_is_not_read_whole_into_memory() -> None:
    src = EndlessLine()
    c = standardstream.new_consumer(options.standardstream_reader(src))
    with c, pytest.raises(LineTooLongError):
        list(c)
    assert src.read_bytes <= LIMIT + 2 * BLOCK_SIZE


def test_with_manual_error_handling_the_error_arrives_on_errors() -> None:
    c = consumer(b"ok\n" + b"x" * 20 + b"\nnever\n", options.standardstream_max_line_size(10),
                 options.manual_error_handling())
    assert [m.value for m in c] == [b"ok"]
    c.close()
    errs = list(c.errors())
    assert len(errs) == 1 and isinstance(errs[0], LineTooLongError)


def test_a_read_error_is_a_client_error() -> None:
    class Failing(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def read1(self, n: int = -1) -> bytes:
            raise OSError(5, "Input/output error")

    c = standardstream.new_consumer(options.standardstream_reader(Failing()))
    with c, pytest.raises(ClientError, match=r"unable to read message from stream: .*Input/output"):
        list(c)


# -- pipes: promptness, waking -----------------------------------------------------------


def test_a_line_is_handed_out_as_soon_as_it_is_complete(pipe: Any) -> None:
    reader, w = pipe
    with standardstream.new_consumer(options.standardstream_reader(reader)) as c:
        it = iter(c)
        for word in (b"one", b"two", b"three"):
            os.write(w, word[:2])
            time.sleep(0.02)
            os.write(w, word[2:] + b"\n")
            got: list[Message] = []
            t = threading.Thread(target=lambda out=got: out.append(next(it)), daemon=True)
            t.start()
            t.join(5)
            assert [m.value for m in got] == [word]
        os.close(w)
        assert list(it) == []


def test_close_from_another_thread_wakes_a_blocked_read(pipe: Any) -> None:
    reader, w = pipe
    c = standardstream.new_consumer(options.standardstream_reader(reader))
    got: list[bytes | None] = []
    done = threading.Event()

    def run() -> None:
        for m in c:
            got.append(m.value)
        done.set()

    threading.Thread(target=run, daemon=True).start()
    os.write(w, b"first\n")
    time.sleep(0.3)  # the iterating thread now waits for the next line
    assert got == [b"first"] and not done.is_set()
    start = time.monotonic()
    c.close()
    assert done.wait(5)
    assert time.monotonic() - start < 2


def test_an_interrupt_on_a_pipe_hands_out_nothing_more_and_says_what_it_dropped(
    pipe: Any, caplog: pytest.LogCaptureFixture
) -> None:
    reader, w = pipe
    c = standardstream.new_consumer(options.standardstream_reader(reader))
    got: list[bytes | None] = []
    done = threading.Event()
    first = threading.Event()
    go_on = threading.Event()

    def run() -> None:
        for m in c:
            got.append(m.value)
            first.set()
            go_on.wait(5)  # the handler is busy with line "a" when the stop comes
        done.set()

    threading.Thread(target=run, daemon=True).start()
    os.write(w, b"a\nb\nc\npartial")  # one read: a, b, c and a partial line
    assert first.wait(5)
    c.interrupt()  # what the shutdown coordinator calls on SIGTERM / Ctrl-C
    go_on.set()
    assert done.wait(5)
    assert got == [b"a"]
    with caplog.at_level("WARNING", logger="streamprocessor"):
        c.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert "2 line(s) and a partial line read from the reader and not handled" in warnings[0]


def test_messages_carry_their_line_index_as_offset(tmp_path: Path) -> None:
    data = b"".join(b"%d\n" % i for i in range(3 * BLOCK_SIZE // 3))
    path = tmp_path / "in"
    path.write_bytes(data)
    with path.open("rb") as f, standardstream.new_consumer(options.standardstream_reader(f)) as c:
        offsets = [m.offset for m in c]
    assert offsets == list(range(3 * BLOCK_SIZE // 3))
    with consumer(b"x\ny\nz") as c:  # through read1, and a last line without newline
        batches = [list(b) for b in c.batches()]
        assert [m.offset for b in batches for m in b] == [0, 1, 2]


def _file_consumer(tmp_path: Path, data: bytes) -> tuple[Any, Any]:
    path = tmp_path / "in"
    path.write_bytes(data)
    f = path.open("rb", buffering=0)
    return f, standardstream.new_consumer(options.standardstream_reader(f))


@pytest.mark.parametrize("crlf", [False, True])
def test_an_interrupt_leaves_a_file_just_after_the_last_line_handed_out(
    tmp_path: Path, crlf: bool
) -> None:
    nl = b"\r\n" if crlf else b"\n"
    lines = [b"line %d" % i for i in range(30_000)]  # several read blocks
    f, c = _file_consumer(tmp_path, nl.join(lines) + nl + b"partial")
    got = []
    for m in c:
        got.append(m.value)
        if len(got) == 12_345:
            c.interrupt()
    c.close()
    assert got == lines[:12_345]
    assert f.read() == nl.join(lines[12_345:]) + nl + b"partial"  # nothing lost or repeated
    f.close()


def test_lines_given_back_go_back_to_a_file_when_they_are_its_tail(tmp_path: Path) -> None:
    lines = [b"%d" % i for i in range(1000)]
    f, c = _file_consumer(tmp_path, b"\n".join(lines) + b"\n")
    batch = next(iter(c.batches()))
    c.interrupt()
    assert c.give_back(batch[400:]) == []  # a tail: nothing to handle after all
    c.close()
    assert f.read().split(b"\n")[:-1] == lines[400:]
    f.close()


def test_lines_given_back_before_a_handled_one_are_returned_to_be_handled(
    tmp_path: Path,
) -> None:
    # (workers finish out of order: 3 and 5... were not handled, 4 was)
    lines = [b"%d" % i for i in range(10)]
    f, c = _file_consumer(tmp_path, b"\n".join(lines) + b"\n")
    batch = next(iter(c.batches()))
    c.interrupt()
    owed = c.give_back([batch[3], *batch[5:]])
    assert [m.offset for m in owed] == [3]
    where = os.lseek(f.fileno(), 0, os.SEEK_CUR)
    assert where == len(b"0\n1\n2\n")  # meanwhile: read again from 3 (nothing lost)
    assert c.give_back([]) == []  # 3 is handled now: the rest is a tail
    c.close()
    assert f.read() == b"\n".join(lines[5:]) + b"\n"
    f.close()


def test_a_bytesio_reader_is_left_at_the_first_line_not_handed_out() -> None:
    r = io.BytesIO(b"a\nb\nc\nd")
    c = standardstream.new_consumer(options.standardstream_reader(r))
    for m in c:
        if m.value == b"b":
            break
    c.close()
    assert r.read() == b"c\nd"


def test_output_is_flushed_before_the_consumer_waits_for_input(pipe: Any) -> None:
    reader, w = pipe
    out = io.BytesIO()
    c = standardstream.new_consumer(options.standardstream_reader(reader))
    p = standardstream.new_producer(options.standardstream_writer(out))

    def run() -> None:
        for m in c:
            p.send(m)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    for i, word in enumerate((b"one", b"two")):
        os.write(w, word + b"\n")
        deadline = time.monotonic() + 5
        want = b"".join(x + b"\n" for x in (b"one", b"two")[: i + 1])
        while out.getvalue() != want and time.monotonic() < deadline:
            time.sleep(0.01)
        assert out.getvalue() == want  # written without flush(): the consumer went idle
    c.close()
    t.join(5)
    p.close()


def test_a_reader_that_returns_text_is_a_clear_error() -> None:
    class Texty:
        def read(self, n: int = -1) -> str:
            return "text\n"

    c = standardstream.new_consumer(options.standardstream_reader(Texty()))  # type: ignore[arg-type]
    with c, pytest.raises(ClientError, match="binary reader"):
        list(c)
