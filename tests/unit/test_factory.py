import subprocess
import sys

import pytest

import streamprocessor
from streamprocessor import UnknownClientError, options
from streamprocessor.clients.inmem import InmemConsumer, InmemProducer


def test_consumer_type_from_the_environment_is_case_insensitive(stream_env):
    stream_env.setenv("CONSUMER_CLIENT_TYPE", "InMem")
    with streamprocessor.new_consumer() as c:
        assert isinstance(c, InmemConsumer)


def test_unknown_consumer_type_lists_the_valid_ones_and_suggests(stream_env):
    stream_env.setenv("CONSUMER_CLIENT_TYPE", "kafak")
    with pytest.raises(UnknownClientError) as e:
        streamprocessor.new_consumer()
    text = str(e.value)
    assert "CONSUMER_CLIENT_TYPE" in text
    assert "did you mean 'kafka'" in text
    assert "inmem, kafka, standardstream" in text


def test_named_consumer_reads_its_own_prefix(stream_env):
    stream_env.setenv("ORDERS_CONSUMER_CLIENT_TYPE", "inmem")
    with streamprocessor.new_consumer(options.name("orders")) as c:
        assert isinstance(c, InmemConsumer)


def test_bare_client_type_is_the_legacy_fallback(stream_env):
    stream_env.setenv("CLIENT_TYPE", "inmem")
    with streamprocessor.new_producer() as p:
        assert isinstance(p, InmemProducer)


def test_factory_reads_the_type_even_with_environment_config_disabled(stream_env):
    stream_env.setenv("PRODUCER_CLIENT_TYPE", "inmem")
    with streamprocessor.new_producer(options.disable_environment_config()) as p:
        assert isinstance(p, InmemProducer)


def test_no_producer_type_is_a_clear_error(stream_env):
    with pytest.raises(UnknownClientError, match=r"PRODUCER_CLIENT_TYPE.*DRY_RUN"):
        streamprocessor.new_producer()


def _probe(stdin, env_extra=None):
    code = (
        "import streamprocessor\n"
        "try:\n"
        "    c = streamprocessor.new_consumer()\n"
        "    print(type(c).__name__)\n"
        "except streamprocessor.UnknownClientError as e:\n"
        "    print('ERROR', e)\n"
    )
    env = {"PATH": "/usr/bin:/bin", **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-c", code],
        stdin=stdin,
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    ).stdout.decode()


def test_piped_stdin_selects_standardstream():
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            "import streamprocessor; print(type(streamprocessor.new_consumer()).__name__)",
        ],
        input=b"x\n",
        capture_output=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert r.stdout.decode().strip() == "StandardstreamConsumer", r.stderr.decode()


def test_redirected_file_selects_standardstream(tmp_path):
    f = tmp_path / "in.txt"
    f.write_bytes(b"x\n")
    with f.open("rb") as fh:
        assert _probe(fh).strip() == "StandardstreamConsumer"


def test_dev_null_does_not_count_as_piped_input():
    out = _probe(subprocess.DEVNULL)
    assert out.startswith("ERROR")
    assert "CONSUMER_CLIENT_TYPE" in out


def test_unknown_type_is_an_error_even_with_piped_stdin():
    r = subprocess.run(
        [sys.executable, "-c", "import streamprocessor; streamprocessor.new_consumer()"],
        input=b"x\n",
        capture_output=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "CONSUMER_CLIENT_TYPE": "stdin"},
        check=False,
    )
    assert r.returncode == 1
    assert b"unknown consumer client type 'stdin'" in r.stderr


def test_importing_streamprocessor_imports_no_client_library():
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, streamprocessor, streamprocessor.options;"
            "print('confluent_kafka' in sys.modules,"
            " 'streamprocessor.clients.kafka' in sys.modules)",
        ],
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert r.stdout.decode().split() == ["False", "False"]
