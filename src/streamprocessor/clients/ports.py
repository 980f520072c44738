"""The ports a backend implements: a :class:`Source` for consumers, a :class:`Sink` for producers.

For authors of a client type. A backend talks to its system (a broker, a file, a store)
per batch and nothing else; one shared front (:class:`~streamprocessor.clients.front.
ConsumerFront`, :class:`~streamprocessor.clients.front.ProducerFront`) keeps every promise
of the ``Consumer``/``Producer`` contract on top of it: the lifecycle, default and manual
error handling, the ack barrier, interrupts, iteration and the batch API. So a backend is
a source and a sink, and :class:`streamprocessor.testing.ConformanceSuite` says whether
the pair keeps the contract.

Rules every port follows:

- One owner per library handle: the front calls a port from one thread at a time for
  ``fetch``, ``commit``, ``rewind``, ``pause`` and ``close``; ``wake`` may come from a
  signal handler (no locks, no IO beyond a non-blocking write), ``resume`` and
  ``backlog`` from any thread.
- ``fetch`` returns a batch (a list the front then owns) and never a message twice unless
  rewound; the messages carry ``_opaque``, an object whose ``owner`` is the front (the
  front checks it to refuse a foreign ack).
- Errors: a fatal error of the backend is reported with ``front.fail(exc)`` (from any
  thread) or raised as a :class:`~streamprocessor.stream.ClientError` from a port call;
  a message the sink cannot send is an :class:`~streamprocessor.stream.InvalidMessageError`
  raised by ``send`` before anything of it is sent.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from streamprocessor.stream.message import Message

if TYPE_CHECKING:
    import logging

    from streamprocessor.util.barrier import DeliveryTracker, RefusedSend
    from streamprocessor.util.interrupts import ShutdownCoordinator

__all__ = ["Commit", "Nack", "Rewind", "Sink", "SinkLink", "Source", "SourceLink"]


class Nack(enum.Enum):
    """What a nack does on a source: the ``nack`` entry of its ``Rewind``."""

    #: the message and every later one of its partition come again (Kafka: a seek)
    REWIND = "rewind"
    #: the message comes again before the next one (standard input, in memory)
    REQUEUE = "requeue"


class Commit(enum.Enum):
    """When the front hands a source its acknowledged messages (``Source.commit``)."""

    #: once per fetched batch or handed-out chunk, and before backlog, nack and close
    PER_BATCH = "per-batch"
    #: at each ack (an in-memory store: a message leaves it when it is acknowledged)
    EACH_ACK = "each-ack"
    #: never: acknowledging commits nothing here (standard input); acks are only checked
    NEVER = "never"


#: What ``Source.rewind`` returns: the message to hand out again before the buffered ones
#: (REQUEUE), or None — a REWIND source dropped the later buffered messages of the
#: partition itself (``link.drop``) and fetches them again; or the message is gone.
Rewind = Message | None


class _Link(Protocol):
    @property
    def log(self) -> logging.Logger:
        """The client's logger."""
        ...

    @property
    def coordinator(self) -> ShutdownCoordinator:
        """The interrupt coordinator the client registered with."""
        ...

    def fail(self, exc: BaseException) -> None:
        """Report a fatal error: the client closes cleanly and raises it at the next call."""
        ...


class SinkLink(_Link, Protocol):
    """What a sink may call on its front."""

    @property
    def failed(self) -> bool:
        """Whether a fatal error is pending (default error handling)."""
        ...

    def raise_failure(self) -> None:
        """Raise the pending fatal error now (the producer closes first), if there is one."""
        ...

    def check(self, what: str) -> None:
        """Raise why the producer cannot ``what`` (failed, closed); nothing if it can."""
        ...

    def replace_send(self, send: Callable[[Message], None]) -> None:
        """Make ``producer.send`` another method of the sink (e.g. one that keeps order)."""
        ...

    def barrier_flush(self, timeout: float | None) -> None:
        """The flush a consumer's close calls through the sink's delivery tracker."""
        ...


class SourceLink(_Link, Protocol):
    """What a source may call on its front (from its own callbacks and threads)."""

    @property
    def owner(self) -> object:
        """The consumer: a source may give its messages the link itself as ``_opaque``."""
        ...

    def settle(self) -> None:
        """Commit the acknowledgements whose sends are delivered (calls ``commit``)."""
        ...

    def flush_barrier(self, timeout: float | None) -> None:
        """Flush the producers pending acks wait on, then commit what became ready."""
        ...

    def drop(self, stale: Callable[[Message], bool]) -> None:
        """Forget buffered messages for which ``stale`` is true (e.g. a revoked partition)."""
        ...


class Source(Protocol):
    """The consumer side of a backend, driven by a ``ConsumerFront``."""

    #: what a nack does here (the front assumes no more than this)
    nack: Nack
    #: when acknowledged messages are handed to :meth:`commit`
    commits: Commit
    #: what the front keeps of an acknowledged message until it hands it to
    #: :meth:`commit`: None — its ``offset`` — or a C-level getter such as
    #: ``operator.attrgetter("_entry")``. It is appended to the ``acks`` list of the
    #: message's ``_opaque`` (a partition's state, a consumer's lease: see
    #: :meth:`ack_holders`), so the message itself can go and nothing is allocated per ack
    ack_key: Callable[[Message], Any] | None
    #: the one class of every message this source hands out (a class of its own, so the
    #: front recognises them by it), or None: they are recognised by ``_opaque.owner``
    message_type: type[Message] | None

    def fetch(self, wait: float) -> list[Message] | None:
        """Return the messages ready now; when none are, wait up to ``wait`` seconds.

        ``[]``: nothing came (the front runs the idle hooks, checks its state and asks
        again); ``None``: the stream ended (every message was returned before).
        """
        ...

    def ack_holders(self) -> Iterable[Any]:
        """The ``_opaque`` objects whose ``acks`` lists the front takes when it settles.

        Each has ``acks`` (a list; None once the source gave it up, e.g. a revoked
        partition: an ack for it then goes to :meth:`commit` alone, which logs it) and
        ``owner`` (the front). Nothing for a source that commits nothing.
        """
        ...

    def commit(self, acked: list[tuple[Any, list[Any]]]) -> None:
        """Make the positions of ``acked`` committed (their ack barrier is passed).

        ``acked``: ``(holder, keys)`` — what ``ack_key`` kept of each acknowledged
        message, per holder, in ack order.

        Acks may come in any order; a position only ever covers an acknowledged prefix.
        Messages of a part no longer assigned are a logged no-op.
        """
        ...

    def rewind(self, msg: Message) -> Rewind:
        """Make ``msg`` come again (see :data:`Rewind` for what the front then does)."""
        ...

    def backlog(self) -> int:
        """Return how many messages are not acknowledged yet (0 where there is no notion)."""
        ...

    def wake(self) -> None:
        """End a ``fetch`` that waits, soon (may run in a signal handler)."""
        ...

    def pause(self, msgs: Sequence[Message]) -> list[object] | None:
        """Stop fetching from where ``msgs`` came from; None when it cannot."""
        ...

    def resume(self, paused: Sequence[object]) -> None:
        """Fetch again from what ``pause`` returned (any thread)."""
        ...

    def give_back(self, msgs: Sequence[Message]) -> list[Message]:
        """Take back messages of a batch the caller did not handle (it is stopping).

        Returns those the caller must handle after all (an input that is re-read from
        one position only); usually ``[]``: unacknowledged messages come again.
        """
        ...

    def stopped(self, unhanded: Sequence[Message]) -> None:
        """The consumer stopped (interrupt, close): ``unhanded`` were never handed out.

        Not from a signal handler. Standard input positions a file at the first line not
        handled; elsewhere unacknowledged messages come again by themselves.
        """
        ...

    def rewind_all(self) -> tuple[Callable[[Message], bool], int] | None:
        """Make every message fetched and not committed come again, from the first of each part.

        The front dropped the acks not committed and its buffer first. Returns ``(again,
        n)`` — which messages come again, and how many — or None: this source cannot.
        """
        ...

    def close(self, timeout: float) -> None:
        """Commit what was committed with ``commit`` for good and let go (bounded)."""
        ...

    def unfinished(self) -> str:
        """Say what is not committed yet, for the shutdown timeout's message."""
        ...

    def save_before_exit(self) -> None:
        """The shutdown timeout ends the process now: save what can be (bounded)."""
        ...


class Sink(Protocol):
    """The producer side of a backend, driven by a ``ProducerFront``.

    ``send`` is the producer's hot path: it is what ``producer.send`` calls while the
    producer is open (the front swaps it out when it closes or fails). It numbers each
    send with its delivery tracker and reports deliveries there (``confirm``/
    ``confirm_upto``, and ``fail`` for a send that failed for good); a synchronous sink
    (delivered within ``send``) has no tracker the barrier waits on.

    A sink whose ``send`` may wait (for room in a queue, on a write) may also have
    ``send_nowait(msg) -> bool``: the same send, or False — nothing sent — where ``send``
    would wait; the async face calls it on its event loop and waits on its worker thread
    only then. Without it, ``send`` is called on the loop (it must not wait for long).
    """

    #: sends are delivered when ``send`` returns: acks need not wait for them
    synchronous: bool

    def send(self, msg: Message) -> None:
        """Send ``msg``; InvalidMessageError (nothing sent) for one it cannot send."""
        ...

    #: the tracker the ack barrier waits on (None for a synchronous sink); its ``flush``
    #: is the front's ``barrier_flush``
    tracker: DeliveryTracker | None

    def flush(self, timeout: float | None) -> None:
        """Wait until every send is delivered; FlushTimeoutError saying what is left."""
        ...

    def on_refused(self, callback: Callable[[RefusedSend], None] | None) -> None:
        """Hand sends refused alone in a delivery report to ``callback`` (None: fail).

        A sink that delivers within ``send`` (or refuses there) never calls it.
        """
        ...

    def close(self, timeout: float) -> None:
        """Flush (bounded by ``timeout``) and let go; FlushTimeoutError if some is left."""
        ...

    def unfinished(self) -> str:
        """Say what is not delivered yet, for the shutdown timeout's message."""
        ...

    def save_before_exit(self) -> None:
        """The shutdown timeout ends the process now: deliver what can be (bounded)."""
        ...
