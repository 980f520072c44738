"""The streamprocessor command as a subprocess over real pipes (stdin → stdout)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_cli_helpers import EXAMPLES, ROOT, Running, command, env, run, write_handlers


@pytest.fixture
def handlers(tmp_path: Path) -> str:
    return write_handlers(tmp_path)


def test_pipe_copies_stdin_to_stdout() -> None:
    done = run(["pipe"], b"a\nb\n", DRY_RUN="1")
    assert (done.returncode, done.stdout) == (0, b"a\nb\n"), done.stderr


def test_console_script_is_the_same_command() -> None:
    script = Path(sys.executable).parent / "streamprocessor"
    done = subprocess.run([str(script), "pipe"], input=b"x\n", capture_output=True,
                          timeout=60, env=env(DRY_RUN="1"))
    assert (done.returncode, done.stdout) == (0, b"x\n"), done.stderr


def test_pipe_from_a_redirected_file(tmp_path: Path) -> None:
    f = tmp_path / "in.txt"
    f.write_bytes(b"one\ntwo\n")
    with f.open("rb") as stdin:
        done = subprocess.run(command("pipe"), stdin=stdin, capture_output=True, timeout=60,
                              env=env(DRY_RUN="1"))
    assert done.stdout == b"one\ntwo\n", done.stderr


def test_pipe_of_many_lines_keeps_every_line_in_order() -> None:
    data = b"".join(b"line %d\n" % i for i in range(20_000))
    done = run(["pipe"], data, DRY_RUN="1")
    assert done.returncode == 0, done.stderr
    assert done.stdout == data


def test_run_uppercase_example() -> None:
    done = run(["run", f"{EXAMPLES / 'uppercase.py'}:handle"], b"hello\nworld\n", DRY_RUN="1")
    assert (done.returncode, done.stdout) == (0, b"HELLO\nWORLD\n"), done.stderr


def test_run_a_module_from_the_current_directory() -> None:
    done = run(["run", "examples.uppercase:handle"], b"a\n", DRY_RUN="1")
    assert done.stdout == b"A\n", done.stderr


def test_uppercase_example_as_its_own_program() -> None:
    done = subprocess.run([sys.executable, str(EXAMPLES / "uppercase.py")], input=b"x\n",
                          capture_output=True, timeout=60, env=env(DRY_RUN="1"))
    assert done.stdout == b"X\n", done.stderr
    helped = subprocess.run([sys.executable, str(EXAMPLES / "uppercase.py"), "--help"],
                            capture_output=True, timeout=60, env=env())
    assert helped.returncode == 0
    assert b"CONSUMER_CLIENT_TYPE" in helped.stdout


def test_filter_example() -> None:
    done = run(["run", f"{EXAMPLES / 'filter.py'}:handle"], b"a\n# no\n\nb\n", DRY_RUN="1")
    assert done.stdout == b"a\nb\n", done.stderr


def test_router_example_needs_its_producer_and_uses_it() -> None:
    spec = f"{EXAMPLES / 'router.py'}:route"
    done = run(["run", spec, "--producer", "invalid"], b'{"id": 1}\nnope\n', DRY_RUN="1")
    assert done.returncode == 0, done.stderr
    assert sorted(done.stdout.splitlines()) == sorted([b'{"id": 1}', b"nope"])
    missing = run(["run", spec], b"nope\n", DRY_RUN="1")
    assert missing.returncode == 1
    assert b"--producer invalid" in missing.stderr


@pytest.mark.parametrize(
    ("function", "expected"),
    [("none", b""), ("upper", b"A\nB\n"), ("many", b"a\na!\nb\nb!\n")],
)
def test_handler_returning_none_one_or_many(handlers: str, function: str,
                                           expected: bytes) -> None:
    done = run(["run", f"{handlers}:{function}"], b"a\nb\n", DRY_RUN="1")
    assert (done.returncode, done.stdout) == (0, expected), done.stderr


def test_stop_policy_exits_1_with_the_error(handlers: str) -> None:
    done = run(["run", f"{handlers}:fails_on_bad"], b"a\nbad\nc\n", DRY_RUN="1")
    assert done.returncode == 1
    assert done.stdout == b"a\n"
    assert b"ValueError: bad input" in done.stderr
    assert b"Traceback" in done.stderr


def test_skip_policy_logs_and_goes_on(handlers: str) -> None:
    done = run(["run", f"{handlers}:fails_on_bad", "--on-error", "skip", "--retries", "2",
                "--retry-backoff", "1ms"], b"a\nbad\nc\n", DRY_RUN="1")
    assert (done.returncode, done.stdout) == (0, b"a\nc\n"), done.stderr
    assert done.stderr.count(b"retrying") == 2
    assert b"Skipping message" in done.stderr


def test_skip_policy_applies_to_a_handler_returning_a_str_value(handlers: str) -> None:
    done = run(["run", f"{handlers}:text_on_bad", "--on-error", "skip"], b"a\nbad\nc\n",
               DRY_RUN="1")
    assert (done.returncode, done.stdout) == (0, b"a\nc\n"), done.stderr
    assert b"Skipping message" in done.stderr
    assert b"value is a str" in done.stderr
    assert b"make it bytes: value.encode()" in done.stderr


def test_stop_policy_names_the_str_value_and_the_fix(handlers: str) -> None:
    done = run(["run", f"{handlers}:text_on_bad"], b"a\nbad\nc\n", DRY_RUN="1")
    assert done.returncode == 1
    assert done.stdout == b"a\n"
    assert b"HandlerOutputError" in done.stderr
    assert b"value is a str" in done.stderr
    assert b"make it bytes: value.encode()" in done.stderr


@pytest.mark.parametrize("producer", ["dead_letter", "producer"])
def test_on_dry_run_dead_letters_go_to_stderr_and_stdout_keeps_only_outputs(
    handlers: str, producer: str
) -> None:
    """One ``dead letter:`` line on stderr with the reason and the source; stdout has the
    outputs only (it had the dead letter too, unmarked), whichever the dead-letter
    producer."""
    done = run(["run", f"{handlers}:fails_on_bad", "--dead-letter-producer", producer],
               b"a\nbad\nc\n", DRY_RUN="1", STREAMPROCESSOR_ON_ERROR="dead-letter")
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"a\nc\n"
    [line] = [ln for ln in done.stderr.splitlines() if ln.startswith(b"dead letter:")]
    assert line.startswith(b"dead letter: ValueError: ")
    assert b"attempts 1" in line
    assert f"dead-letter producer '{producer}'".encode() in done.stderr


def test_on_dry_run_with_json_logs_a_dead_letter_is_a_json_object(handlers: str) -> None:
    done = run(["run", f"{handlers}:fails_on_bad", "--retries", "1", "--retry-backoff", "0s"],
               b"a\nbad\nc\n", DRY_RUN="1", STREAMPROCESSOR_ON_ERROR="dead-letter",
               STREAMPROCESSOR_LOG_FORMAT="json")
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"a\nc\n"
    docs = [json.loads(ln) for ln in done.stderr.splitlines()]
    [dead] = [d for d in docs if d["message"].startswith("dead letter:")]
    assert dead["error.type"] == "ValueError"
    assert dead["error.attempts"] == "2"
    assert dead["error"]


def test_concurrency_over_stdin(handlers: str) -> None:
    data = b"".join(b"%d\n" % i for i in range(50))
    started = time.monotonic()
    done = run(["run", f"{handlers}:slow", "--concurrency", "10"], data, DRY_RUN="1",
               SLOW_SECONDS="0.05")
    assert done.returncode == 0, done.stderr
    assert sorted(done.stdout.splitlines()) == sorted(data.splitlines())
    assert time.monotonic() - started < 50 * 0.05


def test_json_logs(handlers: str) -> None:
    done = run(["run", f"{handlers}:fails_on_bad"], b"bad\n", DRY_RUN="1",
               STREAMPROCESSOR_LOG_FORMAT="json")
    assert done.returncode == 1
    docs = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]
    assert any(d["level"] == "error" and "bad input" in d["message"] for d in docs)


def test_log_level_warning_hides_the_summary(handlers: str) -> None:
    quiet = run(["pipe"], b"a\n", DRY_RUN="1", STREAMPROCESSOR_LOG_LEVEL="warning")
    assert b"Done:" not in quiet.stderr
    loud = run(["pipe"], b"a\n", DRY_RUN="1")
    assert b"Done: 1 in, 1 out" in loud.stderr


def test_stats_print_lines_on_stderr(handlers: str) -> None:
    done = run(["run", f"{handlers}:slow", "--stats", "--stats-interval", "100ms"],
               b"a\nb\nc\nd\n", DRY_RUN="1", SLOW_SECONDS="0.1")
    assert done.returncode == 0, done.stderr
    stats = [line for line in done.stderr.splitlines() if line.startswith(b"in ")]
    assert len(stats) >= 2
    assert stats[-1].endswith(b"total in 4 out 4")


def test_unknown_client_type_exits_2() -> None:
    done = run(["pipe"], b"a\n", CONSUMER_CLIENT_TYPE="kafak", DRY_RUN="1")
    assert done.returncode == 2
    assert b"did you mean 'kafka'" in done.stderr


def test_no_producer_type_exits_2() -> None:
    done = run(["pipe"], b"a\n")
    assert done.returncode == 2
    assert b"PRODUCER_CLIENT_TYPE" in done.stderr


def test_output_closed_early_exits_0_without_a_traceback() -> None:
    data = b"".join(b"line %d\n" % i for i in range(200_000))
    sh = f"{' '.join(command('pipe'))} | head -1"
    done = subprocess.run(["bash", "-c", f"set -o pipefail; {sh}"], input=data,
                          capture_output=True, timeout=60, env=env(DRY_RUN="1"), cwd=ROOT)
    assert done.stdout == b"line 0\n"
    assert b"Traceback" not in done.stderr
    assert done.returncode == 0, done.stderr


def test_sigterm_finishes_what_was_read_and_exits_0() -> None:
    p = Running(["pipe"], DRY_RUN="1")
    try:
        p.write(b"one\ntwo\n")
        assert p.read_lines(2) == [b"one\n", b"two\n"]
        p.signal(signal.SIGTERM)
        assert p.wait() == 0
    finally:
        p.close()


def test_sigterm_lets_the_handler_finish_the_message_in_hand(handlers: str) -> None:
    p = Running(["run", f"{handlers}:announce"], DRY_RUN="1", SLOW_SECONDS="1")
    try:
        p.write(b"first\n")
        p.wait_stderr(b"handling first")
        p.signal(signal.SIGTERM)
        assert p.wait() == 0
        assert p.rest() == [b"first\n"]
    finally:
        p.close()


def test_a_second_ctrl_c_exits_1_at_once(handlers: str) -> None:
    p = Running(["run", f"{handlers}:announce"], DRY_RUN="1", SLOW_SECONDS="30")
    try:
        p.write(b"first\n")
        p.wait_stderr(b"handling first")
        p.signal(signal.SIGINT)
        time.sleep(0.3)
        p.signal(signal.SIGINT)
        assert p.wait(timeout=10) == 1
    finally:
        p.close()


def test_a_shutdown_past_the_timeout_exits_1(handlers: str) -> None:
    p = Running(["run", f"{handlers}:announce", "--shutdown-timeout", "1s"],
                DRY_RUN="1", SLOW_SECONDS="30")
    try:
        p.write(b"first\n")
        p.wait_stderr(b"handling first")
        started = time.monotonic()
        p.signal(signal.SIGTERM)
        assert p.wait(timeout=20) == 1
        assert time.monotonic() - started < 10
        p.wait_stderr(b"Timed out")
    finally:
        p.close()


def test_a_stuck_handler_exits_1(handlers: str) -> None:
    done = run(["run", f"{handlers}:stuck", "--handler-timeout", "1s"], b"a\nstuck\nb\n",
               DRY_RUN="1")
    assert done.returncode == 1
    assert done.stdout == b"a\n"
    assert b"past the handler timeout" in done.stderr


def test_print_config_shows_the_chosen_clients() -> None:
    done = run(["pipe", "--print-config"], b"", DRY_RUN="1")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["consumer"]["type"] == "standardstream"
    assert doc["producers"]["producer"]["type"] == "standardstream"
