"""The one producer: the lifecycle, flush and close around a sink's ``send``.

``producer.send`` is the sink's own ``send`` while the producer is open — a slot of the
front holding the sink's bound method, so the front adds no call per message — and a
method that says why once it is closed or failed: the state change swaps it
(:meth:`ProducerFront._entered`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from streamprocessor.clients.front.client import ClientFront, State, seconds
from streamprocessor.clients.ports import Sink, SinkLink
from streamprocessor.stream.errors import ClientClosedError
from streamprocessor.stream.message import Message

if TYPE_CHECKING:
    from streamprocessor.config.models import ProducerConfig
    from streamprocessor.util.barrier import RefusedSend

__all__ = ["ProducerFront"]


class ProducerFront(ClientFront["ProducerConfig"]):
    """A producer: the contract of ``stream.protocols.Producer`` over a sink.

    ``make_sink(front)`` builds the sink; the front is its
    :class:`~streamprocessor.clients.ports.SinkLink`.
    """

    __slots__ = ("_sink", "_tracker", "send")

    #: Send ``msg`` (see the client type for what it writes): the sink's own ``send``
    #: while the producer is open — a slot, so a send costs no call of the front — and
    #: :meth:`_refuse_send` once it is closed or failed
    send: Callable[[Message], None]

    kind = "producer"

    def __init__(self, config: ProducerConfig, make_sink: Callable[[SinkLink], Sink]) -> None:
        super().__init__(config)
        self._sink: Sink = make_sink(self)
        if not hasattr(self, "send"):  # (the sink may have replaced it while being made)
            self.send = self._sink.send
        self._tracker = self._sink.tracker
        if self._tracker is not None:
            self._barrier.register(self._tracker)
        self._register_interrupts()

    def _entered(self, state: State) -> None:
        if state >= State.FAILED:
            self.send = self._refuse_send

    def _refuse_send(self, msg: Message) -> None:
        self._check("send")

    def replace_send(self, send: Callable[[Message], None]) -> None:
        """Make ``send`` another of the sink's methods (while the producer is open)."""
        if not self._unusable:
            self.send = send

    @property
    def failed(self) -> bool:
        """Whether a fatal error is pending (default error handling)."""
        return self._failure is not None

    def raise_failure(self) -> None:
        """Raise the pending fatal error now (closing the producer first), if there is one."""
        self._raise_pending()

    def check(self, what: str) -> None:
        """Raise why this producer cannot ``what`` (failed, closed); nothing if it can."""
        if self._unusable:
            self._check(what)

    def flush(self, timeout: float | timedelta | None = None) -> None:
        """Wait until every message sent is delivered (FlushTimeoutError past ``timeout``).

        Raises the pending fatal error of this producer under default error handling.
        """
        if self._unusable:
            self._check("flush")
        self._sink.flush(seconds(timeout))
        if self._unusable:
            self._check("flush")

    def on_refused(self, callback: Callable[[RefusedSend], None] | None) -> None:
        """Hand sends the backend refused alone, later, to ``callback`` (None: fail).

        Only a sink whose deliveries are confirmed after ``send`` (Kafka) calls it; the
        refused send holds back every acknowledgement made after it until its
        ``release()``. Without a callback such a send fails the producer.
        """
        self._sink.on_refused(callback)

    def barrier_flush(self, timeout: float | None) -> None:
        """The flush a consumer's close runs before its final commit (never raises)."""
        if self._state >= State.CLOSING:
            self._wait_for_close(timeout)
            return
        try:
            self.flush(timeout)
        except ClientClosedError:
            self._wait_for_close(timeout)  # another thread closes it, and close flushes

    def _wait_for_close(self, timeout: float | None) -> None:
        if self._close_lock.acquire(timeout=-1 if timeout is None else timeout):
            self._close_lock.release()

    def unfinished(self) -> str:
        """Say what is not delivered yet (for the shutdown timeout's message)."""
        return self._sink.unfinished()

    def save_before_exit(self) -> None:
        """Deliver what can be before the shutdown timeout ends the process."""
        self._sink.save_before_exit()

    def _close(self) -> None:
        try:
            self._sink.close(self.shutdown_timeout)
        finally:
            if self._tracker is not None:
                self._barrier.unregister(self._tracker)
