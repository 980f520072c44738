"""The one consumer and the one producer every client type is: the contract, kept once.

A client type is a :class:`~streamprocessor.clients.ports.Source` and a
:class:`~streamprocessor.clients.ports.Sink`; its consumer and producer classes are
:class:`ConsumerFront` and :class:`ProducerFront` built over them (they add a
constructor and nothing else).
"""

from streamprocessor.clients.front.client import (
    IDLE_HOOKS,
    ClientFront,
    ErrorChannel,
    State,
    run_idle_hooks,
    seconds,
)
from streamprocessor.clients.front.consumer import ConsumerFront
from streamprocessor.clients.front.producer import ProducerFront

__all__ = [
    "IDLE_HOOKS",
    "ClientFront",
    "ConsumerFront",
    "ErrorChannel",
    "ProducerFront",
    "State",
    "run_idle_hooks",
    "seconds",
]
