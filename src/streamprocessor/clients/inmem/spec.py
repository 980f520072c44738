"""The in-memory client type's spec: its ports, config sections, variables, options, harness."""

from __future__ import annotations

from streamprocessor.clients.inmem.config import InmemConsumerConfig, InmemProducerConfig
from streamprocessor.clients.spec import ClientSpec
from streamprocessor.config.variables import Variable

__all__ = ["SPEC", "VARIABLES"]

#: The in-memory rows of the variable table.
VARIABLES: tuple[Variable, ...] = (
    Variable("INMEM_CONSUME_ONCE", "inmem.consume_once", "consumer", "bool", "true",
             "Read the in-memory store once and stop (false: listen for new messages)."),
)  # fmt: skip

#: The in-memory client type.
SPEC = ClientSpec(
    name="inmem",
    summary="a store in the process's memory, shared by its producers and consumers "
    "(tests)",
    consumer="streamprocessor.clients.inmem.client:InmemConsumer",
    producer="streamprocessor.clients.inmem.client:InmemProducer",
    consumer_section=InmemConsumerConfig,
    producer_section=InmemProducerConfig,
    variables=VARIABLES,
    options="streamprocessor.clients.inmem.options",
    harness="streamprocessor.clients.inmem.harness:HARNESSES",
)
