"""``run_handler``: test a handler in memory, under the same policies as the runner.

::

    from streamprocessor.testing import run_handler

    def test_uppercases():
        result = run_handler(handle, [b"a", b"b"])
        assert result.values == [b"A", b"B"]

The inputs go into an in-memory store, the runner's own engine consumes them with an
in-memory consumer and sends the outputs to in-memory producers, one per name. Nothing is
read from the environment and no signal handler is installed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from streamprocessor import options
from streamprocessor.clients import inmem
from streamprocessor.config import parse_duration
from streamprocessor.runner import DEFAULT_PRODUCER, Handler, Runner, RunnerSettings
from streamprocessor.runner.app import producer_names
from streamprocessor.stores import InmemStore
from streamprocessor.stream import Message

__all__ = ["HandlerResult", "run_handler"]


@dataclass
class HandlerResult:
    """What a handler produced, per producer name, and what the runner counted."""

    produced: dict[str, list[Message]]
    """Every producer's messages in the order sent; ``"producer"`` is the default one."""
    totals: dict[str, int]
    """The runner's counts: ``in``, ``out``, ``errors``, ``skipped``, ``dead_letters``."""
    unacknowledged: int
    """Inputs not acknowledged (only after a shutdown during a retry)."""
    dead_letter_producer: str = field(default="dead_letter")

    @property
    def messages(self) -> list[Message]:
        """The messages sent to the default producer."""
        return self.produced.get(DEFAULT_PRODUCER, [])

    @property
    def values(self) -> list[bytes | None]:
        """The values of :attr:`messages`."""
        return [m.value for m in self.messages]

    @property
    def dead_letters(self) -> list[Message]:
        """The messages sent to the dead-letter producer."""
        return self.produced.get(self.dead_letter_producer, [])

    def __getitem__(self, producer: str) -> list[Message]:
        """Return the messages sent to ``producer``."""
        return self.produced.get(producer, [])


def _message(item: Message | bytes | str) -> Message:
    if isinstance(item, Message):
        return item
    if isinstance(item, str):
        return Message(value=item.encode())
    if isinstance(item, bytes | bytearray):
        return Message(value=bytes(item))
    raise TypeError(f"inputs must be Message, bytes or str, not {type(item).__name__}")


def _settings(settings: RunnerSettings | None, changes: dict[str, Any]) -> RunnerSettings:
    for key, value in changes.items():
        if isinstance(value, str) and key in (
            "retry_backoff", "retry_backoff_max", "handler_timeout", "shutdown_timeout",
            "stats_interval",
        ):
            changes[key] = parse_duration(value)
        elif key == "producers" and not isinstance(value, tuple):
            changes[key] = tuple(value)
    return (settings or RunnerSettings()).replace(**changes)


def run_handler(
    handler: Handler,
    inputs: Iterable[Message | bytes | str],
    *,
    producers: Sequence[str] = (),
    settings: RunnerSettings | None = None,
    **changes: Any,
) -> HandlerResult:
    """Run ``handler`` over ``inputs`` in memory and return what it produced.

    ``producers`` are the extra producer names (the CLI's ``--producer``); ``settings``
    and keyword arguments (``on_error="dead-letter"``, ``retries=2``,
    ``retry_backoff="0s"``, ``concurrency=4``, …; see
    :class:`~streamprocessor.runner.RunnerSettings`) set the policies. Under the ``stop``
    policy a failing handler raises :class:`~streamprocessor.runner.HandlerFailedError`
    (its ``__cause__`` is the handler's exception), as the runner does.
    """
    if producers:
        changes["producers"] = tuple(producers)
    s = _settings(settings, changes)
    if s.handler_timeout is None:
        s = s.replace(handler_timeout=timedelta(0))  # no watchdog ending the test process
    s = s.replace(freeze_gc=False, gc_threshold=None)  # (a test keeps its collector as it is)
    base = (options.disable_environment_config(), options.manual_interrupt_handling())
    source = InmemStore()
    for item in inputs:
        source.add(_message(item))
    stores = {name: InmemStore() for name in (DEFAULT_PRODUCER, *producer_names(s))}
    with ExitStack() as stack:
        consumer = stack.enter_context(inmem.new_consumer(*base, options.inmem_store(source)))
        clients = {
            name: stack.enter_context(inmem.new_producer(*base, options.inmem_store(store)))
            for name, store in stores.items()
        }
        runner = Runner(consumer, clients, handler, s)
        runner.run()
        left = consumer.backlog()
    return HandlerResult(
        produced={name: store.messages() for name, store in stores.items()},
        totals=runner.totals(),
        unacknowledged=left,
        dead_letter_producer=s.dead_letter_producer,
    )
