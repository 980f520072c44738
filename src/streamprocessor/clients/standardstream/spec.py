"""The standard-stream client type's spec: ports, config sections, variables, options."""

from __future__ import annotations

from streamprocessor.clients.spec import ClientSpec
from streamprocessor.clients.standardstream.config import (
    StandardstreamConsumerConfig,
    StandardstreamProducerConfig,
)
from streamprocessor.config.variables import Variable

__all__ = ["SPEC", "VARIABLES"]

#: The standard-stream rows of the variable table.
VARIABLES: tuple[Variable, ...] = (
    Variable("STANDARDSTREAM_MAX_LINE_SIZE", "standardstream.max_line_size", "consumer",
             "positive-int", "524288", "Longest accepted input line, in bytes."),
)  # fmt: skip

#: The standard-stream client type.
SPEC = ClientSpec(
    name="standardstream",
    summary="newline-delimited messages on stdin and stdout (or any binary file)",
    consumer="streamprocessor.clients.standardstream.consumer:StandardstreamConsumer",
    producer="streamprocessor.clients.standardstream.producer:StandardstreamProducer",
    consumer_section=StandardstreamConsumerConfig,
    producer_section=StandardstreamProducerConfig,
    variables=VARIABLES,
    options="streamprocessor.clients.standardstream.options",
    harness="streamprocessor.clients.standardstream.harness:HARNESSES",
)
