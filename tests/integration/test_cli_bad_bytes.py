"""Bytes that are not UTF-8 in a variable: refused at start with exit 2, never a crash.

Each case runs the real command with the raw byte 0xff in one variable (Python hands it
on as a lone surrogate); before the fix librdkafka aborted (134), crashed (139) or failed
later. The brokers are a closed port: the refusal must come before any connection.
"""

from __future__ import annotations

import socket

import pytest
from test_cli_helpers import run

_NOT_UTF8 = "\udcff"  # os.fsencode turns it back into the byte 0xff in the child


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _kafka_env() -> dict[str, str]:
    broker = f"127.0.0.1:{_closed_port()}"
    return {
        "CONSUMER_CLIENT_TYPE": "kafka", "PRODUCER_CLIENT_TYPE": "kafka",
        "CONSUMER_KAFKA_BROKERS": broker, "PRODUCER_KAFKA_BROKERS": broker,
        "CONSUMER_KAFKA_GROUP_ID": "g", "CONSUMER_KAFKA_TOPICS": "t",
        "PRODUCER_KAFKA_TOPIC": "t", "INVALID_PRODUCER_KAFKA_BROKERS": broker,
        # (a type's variables are read once the type is chosen: the named one's too)
        "INVALID_PRODUCER_CLIENT_TYPE": "kafka", "INVALID_PRODUCER_KAFKA_TOPIC": "t",
        "CONSUMER_KAFKA_CONNECT_TIMEOUT": "2s", "PRODUCER_KAFKA_CONNECT_TIMEOUT": "2s",
    }


CASES = [
    ("CONSUMER_KAFKA_GROUP_ID", {}),
    ("CONSUMER_KAFKA_TOPICS", {}),
    ("PRODUCER_KAFKA_TOPIC", {}),
    ("CONSUMER_KAFKA_BROKERS", {}),
    ("CONSUMER_KAFKA_SASL_PASSWORD", {"CONSUMER_KAFKA_SECURITY_PROTOCOL": "sasl_plaintext",
                                      "CONSUMER_KAFKA_SASL_MECHANISM": "PLAIN",
                                      "CONSUMER_KAFKA_SASL_USERNAME": "u"}),
    ("PRODUCER_KAFKA_SSL_CA_PATH", {}),
    ("CA_PATH", {}),  # an unprefixed fallback
    ("INVALID_PRODUCER_KAFKA_TOPIC", {}),  # a named client's prefix
    ("CONSUMER_KAFKA_LIBRDKAFKA_CONFIG", {}),
    ("CONSUMER_CLIENT_TYPE", {}),
    ("STREAMPROCESSOR_DEAD_LETTER_TOPIC", {}),
]


@pytest.mark.parametrize(("variable", "extra"), CASES, ids=[c[0] for c in CASES])
def test_a_variable_that_is_not_utf8_exits_2_naming_it(variable: str,
                                                       extra: dict[str, str]) -> None:
    env = {**_kafka_env(), **extra, variable: f"x{_NOT_UTF8}"}
    done = run(["run", "json:dumps", "--producer", "invalid"], b"", timeout=60, **env)
    err = done.stderr.decode(errors="replace")
    assert done.returncode == 2, err
    assert f"for {variable}: expected" in err
    assert "not valid UTF-8: an undecodable byte at index 1" in err
    assert "Finished parsing Kafka client" not in err  # refused before any client started
    if "PASSWORD" in variable or "LIBRDKAFKA" in variable:
        assert "<hidden>" in err
        assert "x\\xff" not in err
