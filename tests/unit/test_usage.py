"""The generated --help page: every variable of the config table, with real names."""

from __future__ import annotations

import io
import re

import pytest

from streamprocessor.cli.usage import display_width
from streamprocessor.clients import client_types
from streamprocessor.config import env_prefix, variables_for
from streamprocessor.util import About, render_usage, usage


def _rows(text: str) -> dict[str, str]:
    """Map each KEY of the tables to its row line."""
    return {line.split()[0]: line for line in text.splitlines()
            if re.match(r"^[A-Z0-9_]+_[A-Z0-9_]+(\s|$)", line)}


def test_usage_prints_nothing_without_help_as_first_argument() -> None:
    out = io.StringIO()
    assert usage(About("p"), out, ["prog"]) is False
    assert usage(About("p"), out, ["prog", "x", "--help"]) is False
    assert out.getvalue() == ""


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_usage_prints_the_page_for_help(flag: str) -> None:
    out = io.StringIO()
    assert usage(About("proc", usage="Does things."), out, ["prog", flag]) is True
    assert out.getvalue().startswith("\nproc\n====\n\nDoes things.\n")


@pytest.mark.parametrize("kind", ["consumer", "producer"])
def test_every_variable_of_the_table_is_listed_with_type_and_default(kind: str) -> None:
    about = About("p", consumers=["consumer"], producers=["producer"])
    rows = _rows(render_usage(about, width=100))
    prefix = env_prefix(kind)  # type: ignore[arg-type]
    for var in variables_for(kind):  # type: ignore[arg-type]
        line = rows[var.env_name(prefix)]
        if var.kind != "enum":
            assert var.type_text in line
        if var.default_text:
            assert line.rstrip().endswith(var.default_text), line


def test_descriptions_and_fallbacks_come_from_the_table() -> None:
    text = render_usage(About("p"), width=200)
    for var in variables_for("consumer"):
        assert var.description in text
    assert "Also read from CLIENT_ID when unset." in text
    for value in next(v for v in variables_for("consumer") if v.kind == "enum").values:
        assert value in text


def test_named_clients_use_the_real_prefix() -> None:
    text = render_usage(About("p", consumers=["consumer"], producers=["producer", "producer2"]))
    rows = _rows(text)
    assert "PRODUCER2_PRODUCER_KAFKA_TOPIC" in rows
    assert "PRODUCER2_KAFKA_TOPIC" not in rows
    assert "⚙️  PRODUCER2 PRODUCER" in text
    assert "the producer named producer2" in text


def test_client_selection_names_the_real_variables_and_types() -> None:
    text = render_usage(About("p"))
    assert "CONSUMER_CLIENT_TYPE" in text
    assert "DRY_RUN" in text
    assert "STREAMCLIENT_" not in text
    assert "pubsub" not in text
    for t in client_types():
        assert t in text


def test_defaults_are_shown_as_typed() -> None:
    rows = _rows(render_usage(About("p")))
    assert rows["CONSUMER_KAFKA_COMMIT_INTERVAL"].split()[-1] == "5s"
    assert "0:00:05" not in render_usage(About("p"))


def test_no_line_has_trailing_spaces() -> None:
    text = render_usage(About("p", uri="https://example.org", config={"X": "a\nb"}))
    assert all(line == line.rstrip() for line in text.splitlines())


def test_layout_follows_the_original() -> None:
    text = render_usage(About("proc", uri="https://example.org", config={"B": "b", "A": "a\nz"}))
    assert "🐚 ONLINE DOCUMENTATION\n-----------------------\n" in text
    assert "\n    https://example.org\n" in text
    assert "🐝 USAGE\n--------\n" in text
    assert "split between these\n3 sections:" in text
    assert "* PROCESSOR CONFIGURATION – how to configure the business logic" in text  # noqa: RUF001
    assert "* CONSUMER – how to configure the default consumer." in text  # noqa: RUF001
    assert "\nA\n    a\n    z\n\nB\n    b\n" in text  # sorted keys, values indented


def test_underlines_match_the_displayed_width() -> None:
    assert display_width("⚙️  CONSUMER") == 12
    assert display_width("🐝 USAGE") == 8
    assert display_width("née") == 3
