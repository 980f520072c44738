"""Environment text → typed value, one pydantic ``TypeAdapter`` per kind of variable.

Each kind's ``BeforeValidator`` does the parsing the original's users know (Go integers,
Go booleans, Go durations, comma lists) but stricter: nonsense is an error that names the
variable, the value (``<hidden>`` for secrets) and the accepted form with an example.
Scalars other than strings have surrounding whitespace removed; strings are kept as is.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, Strict, TypeAdapter, ValidationError

from streamprocessor.config.durations import ns_to_timedelta, scan_duration
from streamprocessor.config.fields import Secret, text_problem
from streamprocessor.config.variables import NAME_FORM, Variable
from streamprocessor.stream.errors import ConfigError

__all__ = [
    "invalid_value",
    "name_problem",
    "parse_go_bool",
    "parse_go_int",
    "parse_kv",
    "parse_value",
    "refusal",
    "split_list",
]

_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
_GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_GO_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


def parse_go_int(text: str) -> int:
    """Parse an integer as Go's ``strconv.ParseInt(s, 0, 64)`` does, minus its trap.

    Accepts a sign, ``0x``/``0o``/``0b`` prefixes and ``_`` between digits. A decimal
    with a leading zero (``010``) is refused: Go read it as octal, which nobody means.
    Raises ``ValueError(reason)``; the reason is empty when there is nothing to add.
    """
    s = text.strip()
    body = s[1:] if s[:1] in ("+", "-") else s
    if len(body) > 1 and body[0] == "0" and body[1] in "0123456789_":
        digits = body.replace("_", "")
        if digits.strip("0") == "":
            return 0
        sign = "-" if s[0] == "-" else ""
        if digits.isascii() and digits.isdigit() and "8" not in digits and "9" not in digits:
            octal = f"{sign}{int(digits, 8)}"
            raise ValueError(
                f"Go read this as octal {octal}; write {octal} or {sign}0o{digits.lstrip('0')}"
            )
        raise ValueError(f"a decimal number cannot start with 0; write {sign}{digits.lstrip('0')}")
    if not s.isascii():
        raise ValueError("")
    try:
        value = int(s, 0)
    except ValueError:
        raise ValueError("") from None
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise ValueError("out of range for a 64-bit integer")
    return value


def parse_go_bool(text: str) -> bool:
    """Parse Go's booleans (``1 t T TRUE true True`` and the false ones) plus yes/no."""
    s = text.strip()
    if s in _GO_TRUE or s.lower() == "yes":
        return True
    if s in _GO_FALSE or s.lower() == "no":
        return False
    raise ValueError("")


def split_list(text: str) -> list[str]:
    """Split ``a, b,c`` into ``["a", "b", "c"]``; ``""`` is ``[]``; an empty item is an error."""
    if not text.strip():
        return []
    items = [item.strip() for item in text.split(",")]
    for n, item in enumerate(items, 1):
        if not item:
            raise ValueError(f"item {n} is empty; remove the extra comma")
    return items


def parse_kv(text: str) -> dict[str, str]:
    """Parse ``key=value,key=value`` into a dict; ``""`` is ``{}``.

    A comma followed by text without ``=`` continues the previous value, so list-valued
    properties work: ``debug=cgrp,fetch,linger.ms=5`` → ``{"debug": "cgrp,fetch",
    "linger.ms": "5"}``. Reasons name item positions only: values may be secret.
    """
    out: dict[str, str] = {}
    if not text.strip():
        return out
    last: str | None = None
    for n, raw in enumerate(text.split(","), 1):
        item = raw.strip()
        if not item:
            raise ValueError(f"item {n} is empty; remove the extra comma")
        key, eq, value = item.partition("=")
        if eq:
            key = key.strip()
            if not key:
                raise ValueError(f"item {n} has no property name before '='")
            out[key] = value.strip()
            last = key
        elif last is None:
            raise ValueError(f"item {n} is not key=value")
        else:
            out[last] += "," + item
    return out


def _strip(parse: Callable[[str], Any]) -> Callable[[object], object]:
    def validate(value: object) -> object:
        return parse(value.strip()) if isinstance(value, str) else value

    return validate


def _duration(text: str) -> timedelta:
    return ns_to_timedelta(scan_duration(text))


def _at_least(low: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = parse_go_int(text)
        if value < low:
            raise ValueError(f"must be at least {low}")
        return value

    return parse


_NAME = re.compile(r"[A-Za-z0-9_-]+")


def name_problem(name: str) -> str:
    """Say why ``name`` cannot name a client (its variables' prefix), or return ``""``."""
    return "" if _NAME.fullmatch(name) else f"{name!r} is not {NAME_FORM}"


def _name(text: object) -> object:
    if isinstance(text, str) and name_problem(text):
        raise ValueError(name_problem(text))
    return text


def _names(text: object) -> object:
    if not isinstance(text, str):
        return text
    names = split_list(text)
    for name in names:
        _name(name)
    return names


_Int = Annotated[int, Strict(), BeforeValidator(parse_go_int)]
#: each kind's type; its adapter is built the first time a variable of the kind is read
#: (building all at import cost a run that reads no variable ~10 ms of start-up)
_TYPES: dict[str, Any] = {
    "str": str,
    "secret": Secret,
    "int": _Int,
    "count": Annotated[int, Strict(), BeforeValidator(_at_least(0))],
    "positive-int": Annotated[int, Strict(), BeforeValidator(_at_least(1))],
    "optional-int": _Int,
    "bool": Annotated[bool, Strict(), BeforeValidator(parse_go_bool)],
    "duration": Annotated[timedelta, BeforeValidator(_strip(_duration))],
    "str-list": Annotated[list[str], BeforeValidator(split_list)],
    "int-list": Annotated[list[_Int], BeforeValidator(split_list)],
    "name": Annotated[str, BeforeValidator(_name)],
    "names": Annotated[list[str], BeforeValidator(_names)],
    "kv-dict": Annotated[dict[str, str], BeforeValidator(parse_kv)],
}
_ADAPTERS: dict[str, TypeAdapter[Any]] = {}
# Kinds for which a set-but-empty variable cannot mean anything.
_NOT_EMPTY = frozenset({"int", "count", "positive-int", "optional-int", "bool", "duration", "enum"})
_ENUM_ADAPTERS: dict[tuple[str, str], TypeAdapter[Any]] = {}


def _choice(choices: Mapping[str, object]) -> Callable[[object], object]:
    def validate(value: object) -> object:
        if isinstance(value, str) and value.strip().lower() in choices:
            return choices[value.strip().lower()]
        raise ValueError("")

    return validate


def _custom(parse: Callable[[str], object]) -> Callable[[object], object]:
    def validate(value: object) -> object:
        return parse(value) if isinstance(value, str) else value

    return validate


def _adapter(var: Variable) -> TypeAdapter[Any]:
    if var.kind not in ("enum", "custom"):
        found = _ADAPTERS.get(var.kind)
        if found is None:
            found = _ADAPTERS.setdefault(var.kind, TypeAdapter(_TYPES[var.kind]))
        return found
    key = (var.suffix, var.field)
    adapter = _ENUM_ADAPTERS.get(key)
    if adapter is None:
        if var.kind == "enum":
            check = _choice(var.choices or {})
        else:
            assert var.parser is not None, f"the custom row {var.suffix} has no parser"
            check = _custom(var.parser)
        adapter = TypeAdapter(Annotated[Any, BeforeValidator(check)])
        _ENUM_ADAPTERS[key] = adapter
    return adapter


def refusal(
    name: str, raw: str, expected: str, reason: str = "", secret: bool = False
) -> ConfigError:
    """Build the one error style for a bad value of a variable, flag or option ``name``.

    ``invalid value 'x' for NAME: expected <accepted form with an example> (reason)``; the
    value is ``<hidden>`` for secrets, and text that is not UTF-8 is shown as its bytes.
    """
    if secret:
        shown = "<hidden>"
    elif text_problem(raw):
        shown = repr(raw.encode("utf-8", "surrogateescape"))
    else:
        shown = repr(raw)
    tail = f" ({reason})" if reason else ""
    return ConfigError(f"invalid value {shown} for {name}: expected {expected}{tail}")


def invalid_value(var: Variable, name: str, raw: str, reason: str = "") -> ConfigError:
    """Build the error for a bad value: variable, value (or ``<hidden>``), accepted form."""
    return refusal(name, raw, var.expected, reason, var.secret)


def _reason(exc: ValidationError) -> str:
    err = exc.errors(include_url=False, include_input=False)[0]
    cause = (err.get("ctx") or {}).get("error")
    text = str(cause) if isinstance(cause, ValueError) else err["msg"]
    index = next((p for p in err["loc"] if isinstance(p, int)), None)
    if index is not None:
        return f"item {index + 1}: {text}" if text else f"item {index + 1} is not valid"
    return text


def parse_value(var: Variable, raw: str, name: str) -> object:
    """Parse the text ``raw`` of variable ``var`` (read as ``name``) into its value.

    Raises :class:`ConfigError` naming ``name``, the value and the accepted form; text
    librdkafka could not take (not UTF-8, a NUL) is refused for every kind.
    """
    problem = text_problem(raw)
    if problem:
        raise invalid_value(var, name, raw, problem)
    if var.kind in _NOT_EMPTY and not raw.strip():
        raise invalid_value(var, name, raw, "the variable is set but empty")
    try:
        return _adapter(var).validate_python(raw)
    except ValidationError as exc:
        raise invalid_value(var, name, raw, _reason(exc)) from None
