"""The spool source and sink, and the consumer and producer built on them by the fronts."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import weakref
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from operator import attrgetter
from pathlib import Path
from typing import Any

from streamprocessor.clients.front import ConsumerFront, ProducerFront
from streamprocessor.clients.ports import Commit, Nack, SinkLink, SourceLink
from streamprocessor.clients.validation import SentNames
from streamprocessor.config import ConfigError, ConsumerConfig, ProducerConfig
from streamprocessor.stream import ClientError, Message
from streamprocessor.util.barrier import DeliveryTracker, RefusedSend

_BATCH = 256
_LINE = attrgetter("_line")


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode()


def _unb64(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)


def _log(section: Any, kind: str) -> Path:
    if not section.dir:
        raise ConfigError(
            f"the spool {kind} needs a directory: set {kind.upper()}_SPOOL_DIR "
            "or options.spool_dir(path)"
        )
    return Path(section.dir) / f"{section.topic}.log"


class _Lease:
    """The ``_opaque`` of one consumer's messages: its front, and the acks it holds."""

    __slots__ = ("acks", "owner")

    def __init__(self, owner: object) -> None:
        self.owner = owner
        self.acks: list[int] = []


class _Record(Message):
    __slots__ = ("_line",)
    _line: int


class SpoolSource:
    """Reads ``<dir>/<topic>.log`` from the group's committed line on, and waits for more."""

    nack = Nack.REQUEUE
    commits = Commit.PER_BATCH
    ack_key: Callable[[Message], Any] | None = _LINE

    def __init__(self, config: ConsumerConfig, link: SourceLink) -> None:
        section = config.section(_consumer_section())
        self._path = _log(section, "consumer")
        self._topic = section.topic
        self._offsets = self._path.with_name(f"{section.topic}.{section.group}.offset")
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._path.touch()
        self._file = self._path.open("rb")
        self._committed = int(self._offsets.read_text()) if self._offsets.exists() else 0
        self._acked: set[int] = set()
        self._raw: dict[int, bytes] = {}  # handed out, not committed: for a requeue
        self._next = 0  # the line the file position is at
        self._lease = _Lease(link)
        self._type: type[_Record] = type(
            "SpoolMessage", (_Record,), {"__slots__": (), "_opaque": self._lease}
        )
        self.message_type: type[Message] | None = self._type
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        # (closed when the source goes: a fetch in another thread may still wait on it)
        weakref.finalize(self, _close_fds, self._wake_r, self._wake_w)
        weakref.finalize(self, self._file.close)
        self._closed = False
        while self._next < self._committed and self._file.readline().endswith(b"\n"):
            self._next += 1

    def _message(self, line: int, raw: bytes) -> Message:
        data = json.loads(raw)
        m = self._type.__new__(self._type)
        m.value = _unb64(data["v"])
        m.key = _unb64(data["k"])
        ms = data["t"]
        m.timestamp = None if ms is None else datetime.fromtimestamp(ms / 1000, UTC)
        m.tags = {k: base64.b64decode(v) for k, v in data["tags"].items()}
        m.consumer_topic = self._topic
        m.producer_topic = ""
        m.offset = line
        m.partition = None
        m._line = line
        return m

    def _read(self) -> list[Message]:
        out: list[Message] = []
        while len(out) < _BATCH:
            start = self._file.tell()
            raw = self._file.readline()
            if not raw.endswith(b"\n"):  # nothing more, or a line still being written
                self._file.seek(start)
                break
            self._raw[self._next] = raw
            out.append(self._message(self._next, raw))
            self._next += 1
        return out

    def fetch(self, wait: float) -> list[Message] | None:
        """The complete lines written since the last fetch; waits up to ``wait`` for one."""
        if self._closed:
            return None
        got = self._read()
        if not got and wait > 0:
            ready, _, _ = select.select([self._wake_r], [], [], min(wait, 0.05))
            if ready:
                with contextlib.suppress(BlockingIOError):
                    os.read(self._wake_r, 512)
            if self._closed:
                return None
            got = self._read()
        return got

    def ack_holders(self) -> Iterable[_Lease]:
        """This consumer's one lease."""
        return [self._lease]

    def commit(self, acked: list[tuple[Any, list[int]]]) -> None:
        """Move the group's line past every acknowledged prefix, and write it down."""
        for _, lines in acked:
            self._acked.update(lines)
        start = self._committed
        while self._committed in self._acked:
            self._acked.discard(self._committed)
            self._raw.pop(self._committed, None)
            self._committed += 1
        if self._committed != start:
            tmp = self._offsets.with_suffix(".tmp")
            tmp.write_text(str(self._committed))
            os.replace(tmp, self._offsets)

    def rewind(self, msg: Message) -> Message | None:
        """The line again, as it was written."""
        line: int = msg._line  # type: ignore[attr-defined]
        raw = self._raw.get(line)
        return None if raw is None else self._message(line, raw)

    def backlog(self) -> int:
        """The lines of the log past the group's committed one."""
        with self._path.open("rb") as f:
            return max(sum(1 for raw in f if raw.endswith(b"\n")) - self._committed, 0)

    def wake(self) -> None:
        """End a waiting fetch (a non-blocking write: safe in a signal handler)."""
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._wake_w, b"w")

    def pause(self, msgs: Sequence[Message]) -> list[object] | None:
        """Cannot pause: one log."""
        return None

    def resume(self, paused: Sequence[object]) -> None:
        """Nothing was paused."""

    def give_back(self, msgs: Sequence[Message]) -> list[Message]:
        """Nothing to do: what is not committed is read again by the next consumer."""
        return []

    def stopped(self, unhanded: Sequence[Message]) -> None:
        """Nothing to do (see :meth:`give_back`)."""

    def rewind_all(self) -> tuple[Callable[[Message], bool], int] | None:
        """Not supported."""
        return None

    def close(self, timeout: float) -> None:
        """Stop reading (the position was written at each commit)."""
        self._closed = True
        self.wake()

    def unfinished(self) -> str:
        """Nothing: commits are written at once."""
        return ""

    def save_before_exit(self) -> None:
        """Nothing to save."""


class SpoolSink:
    """Appends each message as one JSON line; delivered when ``send`` returns."""

    synchronous = True
    tracker: DeliveryTracker | None = None

    def __init__(self, config: ProducerConfig, link: SinkLink) -> None:
        section = config.section(_producer_section())
        self._path = _log(section, "producer")
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._files: dict[Path, Any] = {}
        self._names = SentNames()

    def send(self, msg: Message) -> None:
        """Append ``msg`` to its topic's log (``producer_topic``, or the configured one)."""
        self._names.check(msg)
        topic = msg.producer_topic
        path = self._path.with_name(f"{topic}.log") if topic else self._path
        ts = msg.timestamp
        line = json.dumps({
            "v": _b64(msg.value),
            "k": _b64(msg.key),
            "t": None if ts is None else int(ts.timestamp() * 1000),
            "tags": {k: _b64(v) for k, v in msg.tags.items()},
        })
        f = self._files.get(path)
        if f is None:
            f = self._files[path] = path.open("ab")
        try:
            f.write(line.encode() + b"\n")
            f.flush()
        except OSError as exc:
            raise ClientError(f"spool: writing {path} failed: {exc}") from exc

    def flush(self, timeout: float | None) -> None:
        """Nothing to wait for: each send is written at once."""

    def on_refused(self, callback: Callable[[RefusedSend], None] | None) -> None:
        """Nothing to register: a send is refused in ``send`` or not at all."""

    def close(self, timeout: float) -> None:
        """Close the logs."""
        for f in self._files.values():
            f.close()

    def unfinished(self) -> str:
        """Nothing: sends are written at once."""
        return ""

    def save_before_exit(self) -> None:
        """Nothing to save."""


def _close_fds(*fds: int) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def _consumer_section() -> Any:
    from streamprocessor_spool.config import SpoolConsumerConfig

    return SpoolConsumerConfig


def _producer_section() -> Any:
    from streamprocessor_spool.config import SpoolProducerConfig

    return SpoolProducerConfig


class SpoolConsumer(ConsumerFront):
    """A consumer of a spool topic."""

    client_type = "spool"

    def __init__(self, config: ConsumerConfig) -> None:
        super().__init__(config, lambda link: SpoolSource(config, link))


class SpoolProducer(ProducerFront):
    """A producer appending to a spool topic."""

    client_type = "spool"

    def __init__(self, config: ProducerConfig) -> None:
        super().__init__(config, lambda link: SpoolSink(config, link))
