"""Scenario 7: TLS and SASL/SCRAM on the real broker; secrets never in logs.

The session broker has three listeners: PLAINTEXT (for set-up and checks), SSL with client
certificates required (mutual TLS) and SASL_SSL with SCRAM-SHA-256/512 logins, all from
certificates made by openssl for IP:127.0.0.1, so hostname verification (librdkafka's
default) stays on. Clients connect with the original's settings (SPEC §7.3: ``KafkaSSL``
and the ``*_KAFKA_SSL_*`` variables) plus SASL (``kafka_sasl``, ``*_KAFKA_SASL_*``).

Secrets are checked at the most talkative settings: log level debug, JSON logs (every
extra field printed), and librdkafka's own debug output for every context, which includes
its configuration dump.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from oracle import (
    SCRAM_USER,
    Processor,
    base_env,
    committed_offsets,
    create_topics,
    produce_values,
    random_name,
    read_output,
    run_command,
)

from streamprocessor import Message, options
from streamprocessor.clients import kafka
from streamprocessor.testing.kafka_broker import (
    KafkaCluster,
    TlsFiles,
    create_test_certificates,
)

pytestmark = pytest.mark.kafka

COPY = str(Path(__file__).resolve().parent / "copy_processor.py") + ":copy"


def talkative() -> dict[str, str]:
    """The most verbose logging there is."""
    return {
        "STREAMPROCESSOR_LOG_LEVEL": "debug",
        "STREAMPROCESSOR_LOG_FORMAT": "json",
        "CONSUMER_KAFKA_DEBUG": "all",
        "PRODUCER_KAFKA_DEBUG": "all",
    }


def client_env(prefix: str, brokers: str, settings: dict[str, str]) -> dict[str, str]:
    """``settings`` (suffix → value) under ``prefix`` (CONSUMER or PRODUCER)."""
    return {
        f"{prefix}_CLIENT_TYPE": "kafka",
        f"{prefix}_KAFKA_BROKERS": brokers,
        **{f"{prefix}_{k}": v for k, v in settings.items()},
    }


def mtls_settings(tls: TlsFiles, ca: Path | None = None) -> dict[str, str]:
    """The original's TLS variables, with a client certificate and an encrypted key."""
    return {
        "KAFKA_SECURITY_PROTOCOL": "ssl",
        "KAFKA_SSL_CA_PATH": str(ca or tls.ca_cert),
        "KAFKA_SSL_CERT_PATH": str(tls.client_cert),
        "KAFKA_SSL_KEY_PATH": str(tls.client_key),
        "KAFKA_SSL_KEY_PASSWORD": tls.client_key_password,
    }


def scram_settings(tls: TlsFiles, password: str, mechanism: str) -> dict[str, str]:
    """SASL/SCRAM over TLS (server certificate checked against the test CA)."""
    return {
        "KAFKA_SECURITY_PROTOCOL": "sasl_ssl",
        "KAFKA_SSL_CA_PATH": str(tls.ca_cert),
        "KAFKA_SASL_MECHANISM": mechanism,
        "KAFKA_SASL_USERNAME": SCRAM_USER,
        "KAFKA_SASL_PASSWORD": password,
    }


@pytest.fixture
def topics(secure_kafka: KafkaCluster) -> Iterator[tuple[str, str]]:
    """An input topic holding a, b, c and an empty output topic (made over PLAINTEXT)."""
    brokers = secure_kafka.bootstrap_servers
    src, dst = random_name("in"), random_name("out")
    create_topics(brokers, [src, dst], 1)
    produce_values(brokers, src, [b"a", b"b", b"c"])
    yield src, dst


def copy_over(
    secure_kafka: KafkaCluster,
    listener: str,
    settings: dict[str, str],
    src: str,
    dst: str,
    log_dir: Path,
) -> tuple[str, str]:
    """Run the copy processor over ``listener`` until it copied a, b, c, then SIGTERM it.

    Returns everything it logged and what ``--print-config`` printed for the same setup.
    """
    group = random_name("g")
    address = secure_kafka.bootstrap_servers_for(listener)
    env = {
        **base_env(),
        **client_env("CONSUMER", address, settings),
        **client_env("PRODUCER", address, settings),
        "CONSUMER_KAFKA_TOPICS": src,
        "CONSUMER_KAFKA_GROUP_ID": group,
        "CONSUMER_KAFKA_SESSION_TIMEOUT": "3s",
        "PRODUCER_KAFKA_TOPIC": dst,
        "PRODUCER_KAFKA_MAX_QUEUE_BUFFER_DURATION": "10ms",
        **talkative(),
    }
    code, printed, err, _ = run_command(["run", COPY, "--print-config"], env)
    assert code == 0, err.decode()[-2000:]
    brokers = secure_kafka.bootstrap_servers
    proc = Processor(listener.lower(), env, log_dir).start()
    try:
        deadline = time.monotonic() + 60
        while len(copied := read_output(brokers, dst, 1, stable=0.0)) < 3:
            proc.check_alive()
            assert time.monotonic() < deadline, proc.log_tail()
            time.sleep(0.2)
        code, _ = proc.terminate(15)
    finally:
        proc.stop()
    log = proc.log_text()
    assert code == 0, log[-3000:]
    assert [r.src for r in copied] == [(0, 0), (0, 1), (0, 2)], log[-3000:]
    assert committed_offsets(brokers, group, src, 1) == {0: 3}, log[-3000:]
    return log, printed.decode()


def assert_hidden(secret: str, *texts: str) -> None:
    """``secret`` appears in none of ``texts`` (and the texts are not empty)."""
    for text in texts:
        assert text.strip(), "nothing to look at: the check would pass by itself"
        assert secret not in text, (
            f"secret leaked: ...{text[max(text.find(secret) - 200, 0) :][:400]}"
        )


def test_mutual_tls_with_the_original_ssl_variables(
    secure_kafka: KafkaCluster, tls_files: TlsFiles, topics: tuple[str, str], log_dir: Path
) -> None:
    log, printed = copy_over(secure_kafka, "SSL", mtls_settings(tls_files), *topics, log_dir)
    assert_hidden(tls_files.client_key_password, log, printed)
    config = json.loads(printed)
    assert config["consumer"]["kafka"]["ssl"]["key_password"] == "********"
    assert "[redacted]" in log  # librdkafka dumped its configuration (debug on)


def test_scram_sha_256_over_tls_with_the_sasl_variables(
    secure_kafka: KafkaCluster,
    tls_files: TlsFiles,
    scram_password: str,
    topics: tuple[str, str],
    log_dir: Path,
) -> None:
    settings = scram_settings(tls_files, scram_password, "SCRAM-SHA-256")
    log, printed = copy_over(secure_kafka, "SASL_SSL", settings, *topics, log_dir)
    assert_hidden(scram_password, log, printed)
    config = json.loads(printed)
    assert config["producers"]["producer"]["kafka"]["sasl"]["password"] == "********"
    assert "SCRAM-SHA-256" in log
    assert "[redacted]" in log  # librdkafka dumped its configuration (debug on)


def test_scram_sha_512_with_the_options_in_code_and_no_password_in_any_log_record(
    secure_kafka: KafkaCluster,
    tls_files: TlsFiles,
    scram_password: str,
    topics: tuple[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    src, dst = topics
    address = secure_kafka.bootstrap_servers_for("SASL_SSL")
    secure = [
        options.kafka_broker(address),
        options.kafka_security_protocol("sasl_ssl"),
        options.kafka_ssl(str(tls_files.ca_cert)),
        options.kafka_sasl("SCRAM-SHA-512", SCRAM_USER, scram_password),
        options.kafka_debug(),
    ]
    caplog.set_level(logging.DEBUG)
    group = random_name("g")
    with (
        kafka.new_consumer(
            *secure,
            options.kafka_topic(src),
            options.kafka_group_id(group),
            options.kafka_session_timeout("3s"),
        ) as consumer,
        kafka.new_producer(*secure, options.kafka_topic(dst)) as producer,
    ):
        for msg in consumer:
            producer.send(Message(value=msg.value, tags={"src": f"0:{msg.offset}".encode()}))
            consumer.ack(msg)
            if msg.value == b"c":
                break
        shown = [repr(consumer.config), str(consumer.config), repr(producer.config)]
    brokers = secure_kafka.bootstrap_servers
    assert [r.src for r in read_output(brokers, dst, 1, stable=0.2)] == [(0, 0), (0, 1), (0, 2)]
    assert committed_offsets(brokers, group, src, 1) == {0: 3}
    records = [
        f"{r.getMessage()} {' '.join(f'{k}={v!r}' for k, v in vars(r).items())}"
        for r in caplog.records
    ]
    assert len(records) > 50, "librdkafka's debug output did not reach the log"
    assert_hidden(scram_password, "\n".join(records), *shown)


@pytest.mark.parametrize(
    "case",
    ["wrong password", "untrusted certificate", "certificate for another name"],
)
def test_bad_credentials_fail_fast_with_a_clear_error(
    secure_kafka: KafkaCluster,
    tls_files: TlsFiles,
    scram_password: str,
    tmp_path: Path,
    topics: tuple[str, str],
    case: str,
    figures: Callable[..., None],
) -> None:
    src, dst = topics
    secret = scram_password
    if case == "wrong password":
        secret = "wrong-" + scram_password[::-1]
        listener, settings = "SASL_SSL", scram_settings(tls_files, secret, "SCRAM-SHA-512")
        address = secure_kafka.bootstrap_servers_for(listener)
        expected = ["Authentication failed", "KAFKA_SASL_"]
    elif case == "untrusted certificate":
        other = create_test_certificates(tmp_path / "other-ca")
        settings = mtls_settings(tls_files, ca=other.ca_cert)
        address = secure_kafka.bootstrap_servers_for("SSL")
        secret = tls_files.client_key_password
        expected = ["certificate verify failed", "KAFKA_SSL_"]
    else:  # the certificate names IP:127.0.0.1, not "localhost": hostname verification
        settings = mtls_settings(tls_files)
        address = secure_kafka.bootstrap_servers_for("SSL").replace("127.0.0.1", "localhost")
        secret = tls_files.client_key_password
        expected = ["certificate verify failed", "KAFKA_SSL_"]
    env = {
        **base_env(),
        **client_env("CONSUMER", address, settings),
        **client_env("PRODUCER", address, settings),
        "CONSUMER_KAFKA_TOPICS": src,
        "CONSUMER_KAFKA_GROUP_ID": random_name("g"),
        "PRODUCER_KAFKA_TOPIC": dst,
        "STREAMPROCESSOR_LOG_LEVEL": "debug",
    }
    code, out, err, took = run_command(["run", COPY], env, timeout=60)
    text = (out + err).decode(errors="replace")
    assert code == 1, text[-3000:]
    assert took < 25, f"took {took:.1f}s: a bad credential must fail fast, not time out"
    last = [line for line in text.splitlines() if "Fatal client error" in line]
    assert last, text[-3000:]
    figures(case=f"security: {case}", exit=code, seconds=round(took, 2), error=last[-1])
    for word in expected:
        assert word in last[-1], last[-1]
    assert_hidden(secret, text)
    assert committed_offsets(
        secure_kafka.bootstrap_servers, env["CONSUMER_KAFKA_GROUP_ID"], src, 1
    ) == {0: -1001}
