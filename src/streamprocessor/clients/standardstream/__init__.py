r"""The standard-stream client: newline-delimited messages on stdin/stdout or any binary file.

Try a processor in a terminal: ``printf 'hello\nworld\n' | DRY_RUN=1 python proc.py``.

Datasheet:

- consumer source: ``options.standardstream_reader(f)`` — any binary file object — or,
  by default, the process's standard input (file descriptor 0). Input is split on
  ``\n``; one ``\r`` before it is removed; an empty line is a message with value
  ``b""``; a last line without newline is still a message. Bytes pass untouched (no
  decoding). The reader is read in 64 KiB blocks; it is never closed by the client;
- consumer fields: ``value`` (the line), ``timestamp`` (when the block holding the
  line was read, UTC; lines of one read share it) and ``offset`` (the line's index in
  the input, 0 first; log lines say "line N", N = offset + 1; a dead letter's
  ``source.offset`` tag is this index); ``key`` is ``None``, ``tags`` empty, topics ``""``;
- line limit: a line longer than ``max_line_size`` bytes (default 524288 = 512 KiB, not
  counting its ``\n`` or ``\r\n``) ends the iteration with ``LineTooLongError`` naming
  the limit, after every earlier line was handed out and the idle hooks flushed the
  output. The original rejected lines of exactly 524288 bytes too; here they pass. Raise
  the limit with ``options.standardstream_max_line_size(n)`` or the environment variable
  ``CONSUMER_STANDARDSTREAM_MAX_LINE_SIZE`` (``<NAME>_CONSUMER_…`` for a named client).
  At most the limit plus one block is held in memory while a line is read;
- ordering: input order; ``ack`` is accepted (there is nothing to commit), ``nack``
  hands the message out again, as it is, before the next line; ``backlog()`` is 0;
  nothing persists: a new consumer reads on from where the stream is;
- end: iteration ends at end of input. On SIGINT/SIGTERM/SIGQUIT (default interrupt
  handling) the consumer hands out no further line and ends; a blocked read on a pipe,
  socket or terminal is woken at once, and so is one blocked in another thread by
  ``close()``. What was read and not handed out (and lines the runner gives back
  unhandled) goes back to a seekable input — a redirected file, a seekable reader: its
  position is set to the first line not handled, for the next reader of the same open
  file; from a pipe or socket it is dropped, and ``close()`` logs one warning with the
  number of lines. ``close()`` after leaving a loop early positions the input the same
  way. A plain file object (``open(p, "rb")``,
  ``os.fdopen``, ``sys.stdin.buffer``) is read through its file descriptor; any other
  reader (``io.BytesIO``, a socket file, a decompressor) through its ``read1``/``read``;
- producer sink: ``options.standardstream_writer(f)`` or, by default, standard output
  (file descriptor 1). Each message writes ``value`` plus ``\n`` unless the value
  already ends with one; ``None`` writes an empty line; other fields are ignored. Lines
  are buffered and written in blocks of about 64 KiB, and at once when a consumer is
  about to wait for input (an idle hook), at least every 100 ms while output is pending
  (a timer thread: a slow handler's output stays prompt), on ``flush()``, on
  ``close()``, before the shutdown timeout ends the process, and at interpreter exit —
  ``PYTHONUNBUFFERED`` makes no difference. ``print()`` output
  written before a block stays before it. ``close()`` flushes but never closes the
  writer. Acks wait for the lines sent before them to be written (the ack barrier);
- closed standard output (``| head -1``): no error and no traceback: output is
  discarded, ``/dev/null`` replaces file descriptor 1, every consumer stops as on
  SIGTERM and the program ends with status 0 (a program iterating no consumer ends at
  its next ``send``/``flush`` with ``SystemExit(0)``). On another writer a broken pipe
  is an ordinary write error;
- selection: ``CONSUMER_CLIENT_TYPE=standardstream``, ``PRODUCER_CLIENT_TYPE=
  standardstream``; without a type, stdin that is a pipe, a socket or a redirected file
  selects this consumer, and ``DRY_RUN`` (any value) selects this producer;
- limits: a buffered file object of a pipe (``sys.stdin`` included) must not have been
  read from before (its read-ahead would be skipped; for a regular file the position is
  honoured); a blocking read through an object's ``read1``/``read`` cannot be woken by
  a signal; a blocked write to a stalled standard output is ended only by the shutdown
  timeout; ``print()`` of the application's own to a closed standard output raises
  ``BrokenPipeError`` as in any Python program, unless the producer noticed first
  (output buffered by ``print()`` at exit is handled). POSIX only;
- extra to install: none.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamprocessor.clients import lazy_names, new_async_client, new_client

if TYPE_CHECKING:
    from streamprocessor.clients.standardstream.config import (
        StandardstreamConsumerConfig,
        StandardstreamProducerConfig,
    )
    from streamprocessor.clients.standardstream.consumer import StandardstreamConsumer
    from streamprocessor.clients.standardstream.producer import StandardstreamProducer
    from streamprocessor.config.build import ConsumerOption, ProducerOption
    from streamprocessor.stream.protocols import AsyncConsumer, AsyncProducer

__all__ = [
    "StandardstreamConsumer",
    "StandardstreamConsumerConfig",
    "StandardstreamProducer",
    "StandardstreamProducerConfig",
    "new_async_consumer",
    "new_async_producer",
    "new_consumer",
    "new_producer",
]


def new_consumer(*options: ConsumerOption | None) -> StandardstreamConsumer:
    """Return a consumer of stdin (or the reader option) configured by ``options``."""
    consumer: StandardstreamConsumer = new_client("consumer", options, "standardstream")
    return consumer


def new_producer(*options: ProducerOption | None) -> StandardstreamProducer:
    """Return a producer to stdout (or the writer option) configured by ``options``."""
    producer: StandardstreamProducer = new_client("producer", options, "standardstream")
    return producer


def new_async_consumer(*options: ConsumerOption | None) -> AsyncConsumer:
    """Return the async face of a standard-stream consumer (``async with``, ``async for``)."""
    consumer: AsyncConsumer = new_async_client("consumer", options, "standardstream")
    return consumer


def new_async_producer(*options: ProducerOption | None) -> AsyncProducer:
    """Return the async face of a standard-stream producer (``await producer.send(msg)``)."""
    producer: AsyncProducer = new_async_client("producer", options, "standardstream")
    return producer


#: the names this package defines in its modules, imported on first use
__getattr__ = lazy_names(
    __name__,
    {
        "StandardstreamConsumer": "consumer",
        "StandardstreamConsumerConfig": "config",
        "StandardstreamProducer": "producer",
        "StandardstreamProducerConfig": "config",
    },
)
