"""``usage(about)``: the ``--help`` page of a stream processor, generated from the config table.

::

    import sys
    from streamprocessor.util import About, usage  # (defined here, in cli.usage)

    ABOUT = About(
        name="uppercase",
        usage="Uppercases every message.",
        producers=["producer", "invalid"],
        config={"UPPERCASE_LOCALE": "Locale used to uppercase (default: C)."},
    )
    if usage(ABOUT):
        sys.exit(0)

Every environment variable of every listed consumer and producer is printed with its real
name (``CONSUMER_KAFKA_BROKERS``; ``INVALID_PRODUCER_KAFKA_TOPIC`` for a producer named
``invalid``), its type, its default as a user types it and a one-line description, all
taken from the variable table (the global rows and every client type's,
:func:`streamprocessor.clients.registry.variables_for`), so the page cannot drift from what is
really read. The layout follows the original's with its mistakes fixed: the
real variable names and client types, the real prefixes of named clients, defaults and
descriptions filled in, and no trailing spaces.
"""

from __future__ import annotations

import shutil
import sys
import textwrap
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from streamprocessor.config.variables import ClientKind, Variable

__all__ = [
    "About",
    "Row",
    "Section",
    "client_section",
    "render_usage",
    "usage",
    "variable_row",
]


@dataclass(frozen=True)
class About:
    """What ``--help`` says about a processor (the original's ``streamutil.About``).

    ``consumers`` and ``producers`` list the clients the processor opens: ``consumer`` /
    ``producer`` for the default ones, any other entry for a client created with
    ``options.name(entry)``. ``config`` maps the processor's own variables to their
    descriptions (several lines allowed).
    """

    name: str
    usage: str = ""
    uri: str = ""
    consumers: Sequence[str] = ("consumer",)
    producers: Sequence[str] = ("producer",)
    config: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Row:
    """One variable in a section's table."""

    key: str
    type: str
    default: str
    description: str


@dataclass(frozen=True)
class Section:
    """One part of the page: a title, a bullet summary, paragraphs, a table of variables."""

    title: str
    summary: str
    paragraphs: Sequence[str] = ()
    rows: Sequence[Row] = ()


def display_width(text: str) -> int:
    """Return how many terminal columns ``text`` takes (emoji and CJK count two)."""
    width = 0
    prev = 0
    for ch in text:
        if ch == "\ufe0f":  # emoji presentation: a narrow symbol becomes two wide
            width += 2 - prev if prev == 1 else 0
            prev = 2
            continue
        if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
            continue
        prev = 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
        width += prev
    return width


def _header(title: str, mark: str = "-") -> list[str]:
    return [title, mark * display_width(title)]


def _display(entry: str, kind: ClientKind) -> tuple[str, str]:
    """Return (client name, display title) for an About entry."""
    if entry == kind:
        return "", kind.upper()
    return entry, f"{entry.replace('_', ' ').upper()} {kind.upper()}"


def variable_row(var: Variable, prefix: str) -> Row:
    """Return the table row of variable ``var`` read under ``prefix``."""
    desc = var.description
    type_text = var.type_text
    if var.kind == "enum":  # the values go to the description: keeps the table narrow
        type_text = "one of (below)"
        desc += f" One of: {', '.join(var.values)} (any case)."
    if var.fallback:
        desc += f" Also read from {var.fallback} when unset."
    if var.flag:
        desc += f" Flag: {var.flag}."
    return Row(var.env_name(prefix), type_text, var.default_text, desc)


def client_section(entry: str, kind: ClientKind) -> Section:
    """Return the section of a consumer or producer entry (``consumer``, ``producer2``, …)."""
    from streamprocessor.clients.registry import names, variables_for
    from streamprocessor.config.variables import env_prefix

    name, title = _display(entry, kind)
    prefix = env_prefix(kind, name)
    who = f"the default {kind}" if not name else f"the {kind} named {name}"
    type_names = names()
    types = ", ".join(type_names)
    paragraphs = [
        f"{who[0].upper()}{who[1:]} is chosen with {prefix}_CLIENT_TYPE (or CLIENT_TYPE), "
        f"one of {types}."
    ]
    if kind == "consumer":
        paragraphs.append(
            "Without it, input piped or redirected into stdin selects standardstream; "
            "otherwise the processor stops with an error saying so."
        )
    else:
        paragraphs.append(
            "Setting DRY_RUN (to any value) selects standardstream, which writes to stdout; "
            "without either, the processor stops with an error saying so."
        )
    paragraphs.append(f"Its variables all start with {prefix}_:")
    rows = [variable_row(var, prefix) for var in variables_for(kind, type_names)]
    return Section(title, f"how to configure {who}.", paragraphs, rows)


def _config_section(config: Mapping[str, str]) -> Section:
    paragraphs = []
    for key in sorted(config):
        body = "\n".join("    " + line for line in config[key].split("\n"))
        paragraphs.append(f"{key}\n{body}")
    return Section(
        "PROCESSOR CONFIGURATION",
        "how to configure the business logic of this processor via environment variables.",
        paragraphs,
    )


def _table(rows: Sequence[Row], width: int) -> list[str]:
    keys = ["KEY", *(r.key for r in rows)]
    types = ["TYPE", *(r.type for r in rows)]
    kw = max(len(k) for k in keys) + 4
    tw = max(len(t) for t in types) + 4
    out = [f"{'KEY':<{kw}}{'TYPE':<{tw}}DEFAULT"]
    wrap = textwrap.TextWrapper(
        width=max(width, 40), initial_indent="    ", subsequent_indent="    "
    )
    for r in rows:
        out.append(f"{r.key:<{kw}}{r.type:<{tw}}{r.default}".rstrip())
        out.extend(wrap.wrap(r.description))
    return out


def render_usage(
    about: About, *, sections: Sequence[Section] = (), width: int | None = None
) -> str:
    """Return the whole ``--help`` page of ``about`` (plus ``sections`` after the config).

    ``width`` is the column descriptions wrap at (default: the terminal's, 60 to 120).
    """
    if width is None:
        width = min(max(shutil.get_terminal_size((100, 24)).columns, 60), 120)
    parts: list[Section] = []
    if about.config:
        parts.append(_config_section(about.config))
    parts.extend(sections)
    parts.extend(client_section(c, "consumer") for c in about.consumers)
    parts.extend(client_section(p, "producer") for p in about.producers)

    lines = ["", *_header(about.name, "="), ""]
    if about.usage:
        lines += [*textwrap.dedent(about.usage).strip("\n").split("\n"), ""]
    if about.uri:
        lines += [*_header("🐚 ONLINE DOCUMENTATION"), ""]
        lines += ["More details are available at the following URL:", ""]
        lines += [f"    {about.uri}", ""]
    if parts:
        lines += [*_header("🐝 USAGE"), ""]
        lines += [
            "This processor is configured via environment variables, split between these",
            f"{len(parts)} section{'s' if len(parts) != 1 else ''}:",
            "",
        ]
        for p in parts:
            lines += [f"* {p.title} – {p.summary}", ""]  # noqa: RUF001 - the original's dash
        for p in parts:
            lines += [*_header(f"⚙️  {p.title}"), ""]
            for para in p.paragraphs:
                if "\n" in para:
                    lines += [*para.split("\n"), ""]
                else:
                    lines += [*textwrap.wrap(para, width=max(width, 40)), ""]
            if p.rows:
                lines += [*_table(p.rows, width), ""]
    return "\n".join(line.rstrip() for line in lines)


def usage(about: About, out: TextIO | None = None, argv: Sequence[str] | None = None) -> bool:
    """Print the ``--help`` page of ``about`` when asked; return whether it was printed.

    It is printed (to ``out``, default stdout) only when the first argument of ``argv``
    (default ``sys.argv``) is ``--help`` or ``-h``; the caller then exits, usually with
    status 0. Otherwise nothing is printed and this returns False.
    """
    args = sys.argv if argv is None else argv
    if len(args) < 2 or args[1] not in ("--help", "-h"):
        return False
    stream = out if out is not None else sys.stdout
    stream.write(render_usage(about) + "\n")
    stream.flush()
    return True
