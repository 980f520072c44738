"""The consume → produce loop of the README, with options, stores and merged errors."""

from __future__ import annotations

from typing import assert_type

import streamprocessor
from streamprocessor import BatchConsumer, Message, Producer, options
from streamprocessor.clients import inmem, kafka, standardstream
from streamprocessor.clients.kafka import KafkaConsumer, KafkaProducer
from streamprocessor.config import ConsumerConfig, ProducerConfig
from streamprocessor.stores import InmemStore
from streamprocessor.stream import Store
from streamprocessor.util import errors


def uppercase() -> None:
    with streamprocessor.new_consumer() as consumer, streamprocessor.new_producer() as producer:
        assert_type(consumer, BatchConsumer)
        assert_type(producer, Producer)
        for msg in consumer:
            assert_type(msg, Message)
            assert_type(msg.value, bytes | None)
            value = msg.value.upper() if msg.value is not None else None
            producer.send(Message(value=value, key=msg.key, tags=msg.tags))
            consumer.ack(msg)
        assert_type(consumer.backlog(), int)
        producer.flush(5.0)


def in_batches() -> None:
    with streamprocessor.new_consumer() as consumer, streamprocessor.new_producer() as producer:
        for batch in consumer.batches():
            assert_type(batch, list[Message])
            done = 0
            for msg in batch:
                if consumer.halted:
                    break
                producer.send(msg)
                done += 1
            consumer.ack_batch(batch[:done])
            assert_type(consumer.give_back(batch[done:]), list[Message])
            paused = consumer.pause(batch)
            if paused is not None:
                consumer.resume(paused)


def kafka_clients() -> None:
    consumer = kafka.new_consumer(
        options.kafka_broker("127.0.0.1:9092"),
        options.kafka_topic("in"),
        options.kafka_group_id("g"),
        options.kafka_commit_interval("1s"),
    )
    assert_type(consumer, KafkaConsumer)
    producer = kafka.new_producer(options.kafka_broker("b:9092"), options.kafka_topic("out"))
    assert_type(producer, KafkaProducer)
    with consumer, producer:
        for msg in consumer:
            assert_type(msg.offset, int | None)
            producer.send(msg)
            consumer.nack(msg)


def manual_errors() -> None:
    c = inmem.new_consumer(options.manual_error_handling())
    p = standardstream.new_producer(options.manual_error_handling())
    for exc in errors(c, p, None):
        assert_type(exc, BaseException)


def stores() -> None:
    store = InmemStore()
    store.add(Message(value=b"a"))
    backing: Store = store
    assert_type(backing.messages(), list[Message])
    with inmem.new_producer(options.inmem_store(store)) as p:
        p.send(Message(value=b"b"))
    assert_type(store.messages(), list[Message])


def configs() -> None:
    with inmem.new_consumer() as c, inmem.new_producer() as p:
        assert_type(c.config, ConsumerConfig)
        assert_type(p.config, ProducerConfig)
