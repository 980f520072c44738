"""Go duration strings: the exact syntax of time.ParseDuration, and the form users type."""

from __future__ import annotations

import random
import re
from datetime import timedelta

import pytest

from streamprocessor.config import ConfigError, format_duration, parse_duration
from streamprocessor.config.durations import parse_duration_ns

US = timedelta(microseconds=1)
MS = timedelta(milliseconds=1)
S = timedelta(seconds=1)
M = timedelta(minutes=1)
H = timedelta(hours=1)
GO_MAX_NS = (1 << 63) - 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", timedelta(0)),
        ("+0", timedelta(0)),
        ("-0", timedelta(0)),
        ("0s", timedelta(0)),
        ("5s", 5 * S),
        ("+5s", 5 * S),
        ("-5s", -5 * S),
        ("1478s", 1478 * S),
        ("1.5s", 1500 * MS),
        ("5.s", 5 * S),
        (".5s", 500 * MS),
        ("1.004s", 1004 * MS),
        ("100.00100s", 100 * S + MS),
        ("11us", 11 * US),
        ("12µs", 12 * US),  # MICRO SIGN
        ("12μs", 12 * US),  # GREEK SMALL LETTER MU
        ("13ms", 13 * MS),
        ("15m", 15 * M),
        ("16h", 16 * H),
        ("1h30m", 90 * M),
        ("10.5s4m", 4 * M + 10500 * MS),
        ("-2m3.4s", -(2 * M + 3400 * MS)),
        ("1h2m3s4ms5us", H + 2 * M + 3 * S + 4 * MS + 5 * US),
        ("39h9m14.425s", 39 * H + 9 * M + 14425 * MS),
        ("52763797000ns", timedelta(microseconds=52763797)),
        ("0.3333333333333333333h", 20 * M),
        ("0.100000000000000000000h", 6 * M),
        ("2562047h", 2562047 * H),
    ],
)
def test_parse_accepts_go_syntax(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "nanoseconds"),
    [
        ("1ns", 1),
        ("1.5us", 1500),
        ("9223372036854775807ns", GO_MAX_NS),
        ("-9223372036854775808ns", -GO_MAX_NS - 1),
        ("2562047h47m16.854775807s", GO_MAX_NS),
    ],
)
def test_parse_keeps_nanoseconds_up_to_go_range(text: str, nanoseconds: int) -> None:
    assert parse_duration_ns(text) == nanoseconds


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1499ns", 1 * US), ("1500ns", 2 * US), ("2500ns", 2 * US), ("10ns", timedelta(0))],
)
def test_nanoseconds_round_half_even_to_microseconds(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", ""),
        ("3", "missing unit after '3'"),
        ("00", "missing unit after '00'"),
        ("1.5", "missing unit"),
        ("-", "a sign needs a number"),
        ("s", ""),
        (".", ""),
        ("-.", ""),
        (".s", ""),
        ("1d", "unknown unit 'd'"),
        ("1 s", "unknown unit ' s'"),
        ("1s ", "unknown unit 's '"),
        (" 1s", ""),
        ("1h-30m", "unknown unit 'h-'"),
        ("1e3s", "unknown unit 'e'"),
        ("1h.", "expected a number at '.'"),
        ("1S", "unknown unit 'S'"),
        ("9223372036854775808ns", "out of range"),
        ("-9223372036854775809ns", "out of range"),
        ("2562048h", "out of range"),
    ],
)
def test_parse_rejects_what_go_rejects(text: str, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_duration(text)
    message = str(info.value)
    assert repr(text) in message
    assert reason in message
    assert "a Go duration such as 500ms, 5s or 1h30m" in message


def test_parse_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration("soon")


def test_parse_rejects_non_strings() -> None:
    with pytest.raises(ConfigError):
        parse_duration(5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("td", "text"),
    [
        (timedelta(0), "0s"),
        (5 * S, "5s"),
        (500 * MS, "500ms"),
        (90 * M, "1h30m"),
        (15 * M, "15m"),
        (H, "1h"),
        (90 * S, "1m30s"),
        (1500 * MS, "1.5s"),
        (H + 500 * MS, "1h500ms"),
        (250 * US, "250us"),
        (1500 * US, "1.5ms"),
        (S + US, "1.000001s"),
        (-90 * S, "-1m30s"),
        (timedelta(days=2), "48h"),
        (15 * M + 30 * S, "15m30s"),
    ],
)
def test_format_gives_what_a_user_types(td: timedelta, text: str) -> None:
    assert format_duration(td) == text
    assert parse_duration(text) == td


def _random_timedelta(rng: random.Random) -> timedelta:
    scale = rng.choice([1, 1_000, 1_000_000, 60_000_000, 3_600_000_000, 10**12])
    micros = rng.randrange(0, scale * 1000) if rng.random() < 0.9 else rng.randrange(scale)
    return timedelta(microseconds=micros * rng.choice([1, -1]))


def test_format_then_parse_round_trips() -> None:
    rng = random.Random(1234)
    for _ in range(5000):
        td = _random_timedelta(rng)
        assert parse_duration(format_duration(td)) == td, td


def test_format_never_writes_zero_parts() -> None:
    rng = random.Random(99)
    for _ in range(2000):
        text = format_duration(_random_timedelta(rng))
        if text != "0s":
            assert not re.search(r"(?<![\d.])0[a-z]", text), text


def test_parse_of_generated_go_strings_matches_their_parts() -> None:
    rng = random.Random(7)
    micros_per = {"h": 3_600_000_000, "m": 60_000_000, "s": 1_000_000, "ms": 1_000, "us": 1}
    for _ in range(2000):
        units = rng.sample(sorted(micros_per), rng.randint(1, 4))
        pieces = [(rng.randint(0, 999), unit) for unit in units]
        text = "".join(f"{n}{unit}" for n, unit in pieces)
        expected = timedelta(microseconds=sum(n * micros_per[unit] for n, unit in pieces))
        assert parse_duration(text) == expected, text
        assert parse_duration("-" + text) == -expected, text
