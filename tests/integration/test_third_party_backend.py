"""A client type from another package, found by its entry point, used as users would.

``tests/backends`` holds the package ``streamprocessor_spool`` (topic logs of JSON lines
in a directory) and its ``.dist-info`` with an entry point in the group
``streamprocessor.clients``: put on ``PYTHONPATH``, it is an installed distribution for
``importlib.metadata``. Each test runs a fresh interpreter with it on the path.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from test_cli_helpers import ROOT, command, env

BACKENDS = ROOT / "tests" / "backends"
TIMEOUT = 120


def spool_env(**extra: str) -> dict[str, str]:
    e = env(**extra)
    e["PYTHONPATH"] = os.pathsep.join(p for p in (str(BACKENDS), e.get("PYTHONPATH")) if p)
    return e


def python(code: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=TIMEOUT, env=spool_env(**extra))  # fmt: skip


def _write(directory: Path, topic: str, values: list[bytes]) -> None:
    code = (
        "import sys\n"
        "from streamprocessor import Message, new_producer\n"
        "with new_producer() as p:\n"
        "    for v in sys.argv[1:]:\n"
        "        p.send(Message(value=v.encode(), key=b'k'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *(v.decode() for v in values)], capture_output=True,
        text=True, timeout=TIMEOUT,
        env=spool_env(PRODUCER_CLIENT_TYPE="spool", PRODUCER_SPOOL_DIR=str(directory),
                      PRODUCER_SPOOL_TOPIC=topic),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def _values(path: Path) -> list[bytes]:
    import base64

    if not path.exists():
        return []
    return [base64.b64decode(json.loads(line)["v"]) for line in path.read_text().splitlines()]


def test_streamprocessor_run_on_the_spool_type_configured_from_the_environment(
    tmp_path: Path,
) -> None:
    handler = tmp_path / "handlers.py"
    handler.write_text(
        "from streamprocessor import Message\n"
        "from streamprocessor.runner import to\n"
        "def handle(msg):\n"
        "    return [Message(value=msg.value.upper()), to('audit', Message(value=msg.value))]\n"
    )
    spool = tmp_path / "spool"
    _write(spool, "in", [b"a", b"b", b"c"])
    proc = subprocess.Popen(
        command("run", f"{handler}:handle", "--producer", "audit"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=spool_env(
            CONSUMER_CLIENT_TYPE="spool", CONSUMER_SPOOL_DIR=str(spool),
            CONSUMER_SPOOL_TOPIC="in", CONSUMER_SPOOL_GROUP="g1",
            PRODUCER_CLIENT_TYPE="spool", PRODUCER_SPOOL_DIR=str(spool),
            PRODUCER_SPOOL_TOPIC="out",
            AUDIT_PRODUCER_CLIENT_TYPE="spool", AUDIT_PRODUCER_SPOOL_DIR=str(spool),
            AUDIT_PRODUCER_SPOOL_TOPIC="audit",
        ),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while len(_values(spool / "audit.log")) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)  # the consumer tails its log: it ends on a signal
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err.decode()
    assert _values(spool / "out.log") == [b"A", b"B", b"C"]
    assert _values(spool / "audit.log") == [b"a", b"b", b"c"]
    assert (spool / "in.g1.offset").read_text() == "3"  # every input acknowledged


def test_help_and_print_config_show_the_type_and_its_variables(tmp_path: Path) -> None:
    helped = subprocess.run(command("run", "--help"), capture_output=True, text=True,
                            timeout=TIMEOUT, env=spool_env())  # fmt: skip
    assert helped.returncode == 0, helped.stderr
    assert "spool" in helped.stdout
    assert "CONSUMER_SPOOL_DIR" in helped.stdout
    assert "PRODUCER_SPOOL_TOPIC" in helped.stdout
    assert "PRODUCER_SPOOL_GROUP" not in helped.stdout  # a consumer-only row
    printed = subprocess.run(
        command("pipe", "--print-config"), capture_output=True, text=True, timeout=TIMEOUT,
        env=spool_env(CLIENT_TYPE="spool", CONSUMER_SPOOL_DIR=str(tmp_path),
                      PRODUCER_SPOOL_DIR=str(tmp_path), PRODUCER_SPOOL_TOPIC="x"),
    )  # fmt: skip
    assert printed.returncode == 0, printed.stderr
    config = json.loads(printed.stdout)
    assert config["consumer"]["spool"] == {"dir": str(tmp_path), "topic": "messages",
                                           "group": "default"}  # fmt: skip
    assert config["producers"]["producer"]["spool"]["topic"] == "x"


def test_a_bad_value_names_the_spool_variable() -> None:
    done = python(
        "import streamprocessor\nstreamprocessor.new_consumer()\n",
        CONSUMER_CLIENT_TYPE="spool", CONSUMER_SPOOL_TOPIC="caf\udce9",
    )
    assert done.returncode != 0
    assert "CONSUMER_SPOOL_TOPIC" in done.stderr
    assert "UTF-8" in done.stderr


def test_its_options_are_reached_through_streamprocessor_options(tmp_path: Path) -> None:
    done = python(
        "from streamprocessor import options, new_consumer\n"
        f"c = new_consumer(options.spool_dir({str(tmp_path)!r}), options.spool_group('g'))\n"
        "print(c.config.spool.group, c.config.type)\n"
        "c.close()\n",
        CONSUMER_CLIENT_TYPE="spool",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["g", "spool"]


def test_a_type_whose_library_is_missing_says_what_to_install() -> None:
    done = subprocess.run(command("pipe"), input=b"x\n", capture_output=True, text=False,
                          timeout=TIMEOUT, env=spool_env(CLIENT_TYPE="ghost"))  # fmt: skip
    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert "ghost_library_that_is_not_installed" in err
    assert "pip install ghost-library" in err


def test_a_built_in_type_never_reads_the_entry_points() -> None:
    done = python(
        "import importlib.metadata as md\n"
        "real = md.entry_points\n"
        "def refuse(**select):\n"
        "    assert select.get('group') != 'streamprocessor.clients', 'entry points read'\n"
        "    return real(**select)\n"
        "md.entry_points = refuse\n"
        "import streamprocessor\n"
        "from streamprocessor import options\n"
        "from streamprocessor.stores import InmemStore\n"
        "store = InmemStore()\n"
        "with streamprocessor.new_producer(options.inmem_store(store)) as p:\n"
        "    p.send(streamprocessor.Message(value=b'x'))\n"
        "with streamprocessor.new_consumer(options.inmem_store(store)) as c:\n"
        "    print([m.value for m in c])\n",
        CLIENT_TYPE="inmem",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[b'x']"


def test_the_conformance_suite_passes_on_the_spool_type() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "spool",
         str(ROOT / "tests" / "integration" / "test_conformance.py")],
        capture_output=True, text=True, timeout=300, env=spool_env(), cwd=ROOT,
    )  # fmt: skip
    tail = done.stdout[-3000:]
    assert done.returncode == 0, tail
    passed = re.search(r"(\d+) passed", tail)
    assert passed is not None and int(passed.group(1)) >= 25, tail
    assert "failed" not in tail
