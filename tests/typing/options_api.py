"""Options: the built-in ones, and options of one's own (functions and lambdas)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import assert_type

import streamprocessor
from streamprocessor import options
from streamprocessor.clients import inmem, kafka
from streamprocessor.config import ConsumerConfig, ProducerConfig, new_consumer_config
from streamprocessor.options import ConsumerOption, Option, ProducerOption
from streamprocessor.runner import RunnerSettings, run

assert_type(options.kafka_topic("a"), Option)
assert_type(options.kafka_topic("a"), Callable[[ConsumerConfig | ProducerConfig], object])
assert_type(options.kafka_group_id_random(), Option)
assert_type(options.logger(logging.getLogger("x")), Option)
assert_type(options.shutdown_timeout(timedelta(seconds=3)), Option)


def set_group(c: ConsumerConfig) -> None:
    c.kafka.group_id = "mine"


def set_topic(c: ProducerConfig) -> None:
    c.kafka.topic = "out"


def on_both(c: ConsumerConfig | ProducerConfig) -> None:
    c.kafka.brokers = ["127.0.0.1:9092"]


# an option of one's own that only knows consumer configs suits a consumer ...
streamprocessor.new_consumer(set_group, on_both, options.kafka_topic("in"))
inmem.new_consumer(lambda c: c.kafka.topics.append("t"))
kafka.new_producer(set_topic, lambda c: setattr(c.kafka, "topic", "out"))
consumer_only: ConsumerOption = set_group
producer_only: ProducerOption = set_topic
both: Option = on_both
# ... and options for both sides suit either
consumer_too: ConsumerOption = options.kafka_broker("b:9092")
producer_too: ProducerOption = options.kafka_broker("b:9092")

# the runner builds both sides: consumer_options makes a consumer's function an Option
run(None, RunnerSettings(), options.consumer_options(set_group), options.producer_options(on_both))
assert_type(new_consumer_config(set_group, None).kafka.group_id, str)

# a function of one side is refused where the other side is built (the ignores must be
# needed: mypy --strict reports an unused one)
kafka.new_consumer(set_topic)  # type: ignore[arg-type]
streamprocessor.new_producer(set_group)  # type: ignore[arg-type]
run(None, RunnerSettings(), set_group)  # type: ignore[arg-type]
inmem.new_producer(lambda c: c.kafka.topics)  # type: ignore[attr-defined]


def returns_a_new_config(c: ConsumerConfig) -> ConsumerConfig:
    return c.model_copy(update={"name": "other"})


streamprocessor.new_consumer(returns_a_new_config)
