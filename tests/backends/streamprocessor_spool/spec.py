"""The spool client type's spec, and a type whose library is missing (``ghost``)."""

from __future__ import annotations

from streamprocessor.clients.spec import ClientSpec
from streamprocessor.config import Variable
from streamprocessor_spool.config import SpoolConsumerConfig, SpoolProducerConfig

SPEC = ClientSpec(
    name="spool",
    summary="topic logs of JSON lines in a directory (a backend of another package)",
    consumer="streamprocessor_spool.client:SpoolConsumer",
    producer="streamprocessor_spool.client:SpoolProducer",
    consumer_section=SpoolConsumerConfig,
    producer_section=SpoolProducerConfig,
    variables=(
        Variable("SPOOL_DIR", "spool.dir", "both", "str", "", "Directory of the topic logs."),
        Variable("SPOOL_TOPIC", "spool.topic", "both", "str", "messages", "Topic name."),
        Variable("SPOOL_GROUP", "spool.group", "consumer", "str", "default",
                 "Name the consumer's position is kept under."),
    ),
    options="streamprocessor_spool.options",
    harness="streamprocessor_spool.harness:HARNESSES",
)

#: a client type whose library is not installed: choosing it says what to install
GHOST = ClientSpec(
    name="ghost",
    summary="needs a library that is not installed",
    consumer="streamprocessor_spool.client:SpoolConsumer",
    producer="streamprocessor_spool.client:SpoolProducer",
    requires=("ghost_library_that_is_not_installed",),
    install="pip install ghost-library",
)
