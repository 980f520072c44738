"""The docs, run as written: the commands of README.md, docs/*.md and examples/README.md.

Every fenced ``sh`` block is parsed as a shell reads it (``\\`` continues a line, ``#``
outside quotes starts a comment). The commands that need no broker (stdin, ``DRY_RUN``,
``--help``) run with bash from the repository root, with the virtual environment's
``bin`` first on PATH, and must exit 0; a trailing comment ``# → a, b`` is the stdout the
doc promises, line by line. The Python blocks of README.md must pass ``mypy --strict``.
A doc edit therefore cannot drift from what the commands do.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from streamprocessor.testing.plugin import STREAM_ENV_PATTERN

ROOT = Path(__file__).resolve().parents[2]
DOCS = ["README.md", *sorted(p.relative_to(ROOT).as_posix() for p in ROOT.glob("docs/*.md")),
        "examples/README.md"]  # fmt: skip
SHELLS = {"sh", "bash", "shell"}
OUTPUT = "→ "


@dataclass(frozen=True)
class Command:
    doc: str
    line: int
    text: str
    comment: str
    needs_broker: bool

    @property
    def expected(self) -> str | None:
        """The documented stdout, its lines joined by ", " (None: the doc shows none)."""
        _, arrow, shown = self.comment.rpartition(OUTPUT)
        return shown.strip() if arrow else None

    @property
    def runs_tests(self) -> bool:
        return "pytest" in self.text or "scripts/test.sh" in self.text

    @property
    def runnable(self) -> bool:
        """What this test runs: no broker, and not the test suite (its own CI step)."""
        return not self.needs_broker and not self.runs_tests

    def __str__(self) -> str:
        return f"{self.doc}:{self.line}"


def fenced_blocks(doc: str, languages: set[str]) -> list[tuple[int, list[str]]]:
    """Return (line number of the first line, lines) of each block in one of ``languages``."""
    blocks: list[tuple[int, list[str]]] = []
    inside = keep = False
    current: list[str] = []
    start = 0
    for number, line in enumerate((ROOT / doc).read_text(encoding="utf-8").splitlines(), 1):
        fence = re.match(r"^\s*```(\S*)\s*$", line)
        if fence and not inside:
            inside, keep, current, start = True, fence[1] in languages, [], number + 1
        elif fence:
            inside = False
            if keep:
                blocks.append((start, current))
        elif inside and keep:
            current.append(line)
    assert not inside, f"{doc}: unclosed code block"
    return blocks


def split_comment(line: str) -> tuple[str, str]:
    """Split a shell line into the command and its comment, as bash reads the ``#``."""
    quote = ""
    escaped = False
    for i, ch in enumerate(line):
        if escaped:
            escaped = False
        elif ch == "\\" and quote != "'":
            escaped = True
        elif quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip(), line[i + 1 :].strip()
    return line.rstrip(), ""


def commands(doc: str) -> list[Command]:
    """Every command of the doc's shell blocks, continuation lines joined.

    A command needs the broker when it names Kafka, or follows one that did in its block
    (a shell pasted into keeps what it was given), or follows an ``export`` of Kafka
    settings anywhere before it in the doc.
    """
    out: list[Command] = []
    exported = False
    for start, lines in fenced_blocks(doc, SHELLS):
        in_block = False
        pending: list[str] = []
        first = start
        for number, raw in enumerate(lines, start):
            if not pending:
                first = number
            text, comment = split_comment(raw)
            if text.endswith("\\") and not comment:
                pending.append(text[:-1])
                continue
            pending.append(text)
            joined = " ".join(part.strip() for part in pending).strip()
            pending = []
            if joined:
                kafka = "kafka" in joined.lower()
                in_block |= kafka
                out.append(Command(doc, first, joined, comment, in_block or exported))
                exported |= kafka and joined.startswith("export ")
        assert not pending, f"{doc}:{first}: a continuation line ends the block"
    return out


ALL = [c for doc in DOCS for c in commands(doc)]
RUNNABLE = [c for c in ALL if c.runnable]


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not STREAM_ENV_PATTERN.match(k) and not k.startswith("STREAMPROCESSOR_")}  # fmt: skip
    # the docs run "with the virtual environment active"
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def test_every_doc_has_commands_and_every_shown_output_is_checked() -> None:
    """Each doc contributes commands; no ``# →`` output sits on a command left unrun."""
    assert {c.doc for c in RUNNABLE} >= {"README.md", "docs/CLI.md", "examples/README.md"}
    assert [str(c) for c in ALL if c.expected is not None and not c.runnable] == []
    assert sum(c.expected is not None for c in RUNNABLE) >= 8


def test_the_parser_reads_comments_and_continuations_as_bash_does() -> None:
    assert split_comment("printf 'a\\n# x\\n' | cat   # → a, # x") == (
        "printf 'a\\n# x\\n' | cat", "→ a, # x")
    assert split_comment('echo "exit $?"  # → exit 0') == ('echo "exit $?"', "→ exit 0")
    assert split_comment("look-$RANDOM#not-a-comment") == ("look-$RANDOM#not-a-comment", "")


def test_commands_after_kafka_settings_count_as_needing_the_broker(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(
        "```sh\nprintf 'a\\n' | DRY_RUN=1 streamprocessor pipe  # → a\n"
        "CONSUMER_CLIENT_TYPE=kafka \\\n  streamprocessor pipe\nstreamprocessor pipe\n```\n"
        "```sh\nstreamprocessor pipe --help\nexport CONSUMER_KAFKA_BROKERS=$KAFKA\n```\n"
        "```bash\nstreamprocessor pipe  # Ctrl-C\n```\n```text\nnot a command\n```\n",
        encoding="utf-8",
    )
    got = [(c.line, c.text, c.expected, c.needs_broker) for c in commands(str(doc))]
    assert got == [
        (2, "printf 'a\\n' | DRY_RUN=1 streamprocessor pipe", "a", False),
        (3, "CONSUMER_CLIENT_TYPE=kafka streamprocessor pipe", None, True),
        (5, "streamprocessor pipe", None, True),
        (8, "streamprocessor pipe --help", None, False),
        (9, "export CONSUMER_KAFKA_BROKERS=$KAFKA", None, True),
        (12, "streamprocessor pipe", None, True),
    ]


@pytest.mark.parametrize("command", RUNNABLE, ids=str)
def test_a_documented_command_works_as_written(command: Command) -> None:
    """Run from the repository root as a shell would; exit 0 and the documented stdout."""
    proc = subprocess.Popen(
        ["bash", "-c", command.text], cwd=ROOT, env=_environment(), start_new_session=True,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:  # (and whatever the command started)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 0, err.decode(errors="replace")
    if command.expected is not None:
        got = ", ".join(out.decode().splitlines())
        assert got == command.expected, err.decode(errors="replace")


def test_the_readme_python_blocks_pass_mypy_strict(tmp_path: Path) -> None:
    """What a user copies from the README type-checks (``msg.value`` is ``bytes | None``)."""
    files = []
    for number, (start, lines) in enumerate(fenced_blocks("README.md", {"python"}), 1):
        path = tmp_path / f"readme_block_{number}_line_{start}.py"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        files.append(str(path))
    assert len(files) >= 2
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", *files],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_readmes_first_snippet_runs_on_stdin(tmp_path: Path) -> None:
    """The README's consume → produce loop, piped a tombstone-free input, uppercases it."""
    [(_, lines), *_] = fenced_blocks("README.md", {"python"})
    script = tmp_path / "snippet.py"
    script.write_text("\n".join(lines) + "\n", encoding="utf-8")
    env = {**_environment(), "DRY_RUN": "1"}
    done = subprocess.run([sys.executable, str(script)], input=b"hello\nworld\n",
                          env=env, capture_output=True, timeout=60)  # fmt: skip
    assert (done.returncode, done.stdout) == (0, b"HELLO\nWORLD\n"), done.stderr
