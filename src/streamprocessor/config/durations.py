"""Go duration strings (``500ms``, ``5s``, ``1h30m``) to and from ``timedelta``.

The syntax is exactly Go's ``time.ParseDuration``: an optional sign, then one or more
decimal numbers (with an optional fraction) each followed by a unit ``ns``, ``us`` (or
``µs``/``μs``), ``ms``, ``s``, ``m`` or ``h``; ``0`` alone needs no unit. The range is
Go's too (about ±2562047 hours). A ``timedelta`` counts microseconds, so nanoseconds are
rounded to the nearest microsecond.
"""

from __future__ import annotations

from datetime import timedelta

from streamprocessor.stream.errors import ConfigError

__all__ = [
    "DURATION_EXAMPLE",
    "format_duration",
    "ns_to_timedelta",
    "parse_duration",
    "parse_duration_ns",
    "scan_duration",
]

#: How an error message describes the accepted form.
DURATION_EXAMPLE = "a Go duration such as 500ms, 5s or 1h30m"

_UNITS: dict[str, int] = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # U+00B5 MICRO SIGN
    "μs": 1_000,  # U+03BC GREEK SMALL LETTER MU
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_DIGITS = "0123456789"
_MAX_NS = (1 << 63) - 1  # Go's time.Duration is an int64 of nanoseconds
_US = timedelta(microseconds=1)


def _scan_digits(s: str, i: int) -> int:
    while i < len(s) and s[i] in _DIGITS:
        i += 1
    return i


def scan_duration(text: str) -> int:
    """Parse a Go duration string into nanoseconds; raise ``ValueError(reason)`` if invalid.

    The reason is bare (``missing unit after '5' …``) and empty when nothing more useful
    than "not a duration" can be said; :func:`parse_duration_ns` builds the full message.
    """
    s = text
    negative = False
    if s[:1] in ("-", "+"):
        negative = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0
    if s == "":
        raise ValueError("" if not text else "a sign needs a number")
    total = 0
    i = 0
    while i < len(s):
        start = i
        i = _scan_digits(s, i)
        whole = s[start:i]
        fraction = ""
        if i < len(s) and s[i] == ".":
            frac_start = i + 1
            i = _scan_digits(s, frac_start)
            fraction = s[frac_start:i]
        if not whole and not fraction:
            raise ValueError("" if start == 0 else f"expected a number at {s[start:]!r}")
        unit_start = i
        while i < len(s) and s[i] != "." and s[i] not in _DIGITS:
            i += 1
        unit = s[unit_start:i]
        if not unit:
            why = f"missing unit after {s[start:i]!r}; only a lone 0 may go without one"
            raise ValueError(why)
        scale = _UNITS.get(unit)
        if scale is None:
            raise ValueError(f"unknown unit {unit!r} (use ns, us, ms, s, m or h)")
        # Go truncates each term to whole nanoseconds; so do we, exactly.
        total += int(whole or "0") * scale
        if fraction:
            total += int(fraction) * scale // 10 ** len(fraction)
        if total > _MAX_NS + 1:
            raise ValueError("out of range (Go durations stop at about 2562047h)")
    if total > _MAX_NS + (1 if negative else 0):
        raise ValueError("out of range (Go durations stop at about 2562047h)")
    return -total if negative else total


def parse_duration_ns(text: str) -> int:
    """Parse a Go duration string into a whole number of nanoseconds.

    Raises :class:`~streamprocessor.stream.errors.ConfigError` (a ``ValueError``) with
    the reason when ``text`` is not a Go duration.
    """
    if not isinstance(text, str):
        raise ConfigError(f"invalid duration {text!r}: expected {DURATION_EXAMPLE}")
    try:
        return scan_duration(text)
    except ValueError as exc:
        why = f"{exc}; " if str(exc) else ""
        raise ConfigError(f"invalid duration {text!r}: {why}expected {DURATION_EXAMPLE}") from None


def ns_to_timedelta(ns: int) -> timedelta:
    """Convert nanoseconds to a timedelta, rounding to the nearest microsecond (half even)."""
    micros, rest = divmod(abs(ns), 1000)
    if rest > 500 or (rest == 500 and micros % 2):
        micros += 1
    return timedelta(microseconds=-micros if ns < 0 else micros)


def parse_duration(text: str) -> timedelta:
    """Parse a Go duration string (``300ms``, ``1.5s``, ``-2h45m``, ``0``) into a timedelta.

    Raises :class:`~streamprocessor.stream.errors.ConfigError` (a ``ValueError``) naming
    the problem: a bare number other than ``0``, a missing or unknown unit, an empty
    string, spaces, or a value outside Go's range.
    """
    return ns_to_timedelta(parse_duration_ns(text))


def _fraction(value: int, digits: int) -> str:
    """Render ``value / 10**digits`` without trailing zeros (``1500, 3`` → ``1.5``)."""
    whole, part = divmod(value, 10**digits)
    tail = f"{part:0{digits}d}".rstrip("0")
    return f"{whole}.{tail}" if tail else str(whole)


def format_duration(td: timedelta) -> str:
    """Render a timedelta the way a user types a Go duration: ``5s``, ``500ms``, ``1h30m``.

    Zero parts are left out (``1h`` rather than Go's ``1h0m0s``) and the result always
    parses back to the same value with :func:`parse_duration`; zero is ``0s``.
    """
    micros = td // _US
    if micros == 0:
        return "0s"
    sign = "-" if micros < 0 else ""
    hours, rest = divmod(abs(micros), 3_600_000_000)
    minutes, rest = divmod(rest, 60_000_000)
    parts = [sign]
    if hours:
        parts.append(f"{hours}h")
    if minutes:
        parts.append(f"{minutes}m")
    if rest >= 1_000_000:
        parts.append(_fraction(rest, 6) + "s")
    elif rest >= 1_000:
        parts.append(_fraction(rest, 3) + "ms")
    elif rest:
        parts.append(f"{rest}us")
    return "".join(parts)
