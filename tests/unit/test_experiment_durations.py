from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from chaos.durations import Duration, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30.0),
        ("2m", 120.0),
        ("1h", 3600.0),
        ("1m30s", 90.0),
        ("500ms", 0.5),
        ("1h30m", 5400.0),
        ("1h2m3s4ms", 3723.004),
        ("1.5s", 1.5),
        ("0.25m", 15.0),
        ("45", 45.0),
        ("2.5", 2.5),
        ("0", 0.0),
        ("0s", 0.0),
        (" 2m ", 120.0),
        ("1m 30s", 90.0),
        ("10M", 600.0),
        (45, 45.0),
        (2.5, 2.5),
        (0, 0.0),
    ],
)
def test_parse_duration_accepts(text: str | int | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "expected seconds as a number or a duration such as 30s"),
        ("abc", "expected seconds as a number"),
        ("30sec", "expected seconds as a number"),
        ("2 minutes", "expected seconds as a number"),
        ("1.s", "expected seconds as a number"),
        ("m", "expected seconds as a number"),
        ("1d", "expected seconds as a number"),
        ("1s1m", "from largest to smallest"),
        ("1m1m", "once each"),
        ("30s500ms1h", "from largest to smallest"),
        ("-5s", "must not be negative"),
        (-1, "must not be negative"),
        (float("nan"), "finite"),
        (float("inf"), "finite"),
        (True, "invalid duration True"),
    ],
)
def test_parse_duration_rejects(text: str | int | float, fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_duration(text)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_parse_duration_does_not_echo_long_values() -> None:
    secret = "AKIA" + "x" * 60
    with pytest.raises(ValueError) as info:
        parse_duration(secret)
    assert secret not in str(info.value)
    assert "64 characters" in str(info.value)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.5, "500ms"),
        (1, "1s"),
        (90, "1m30s"),
        (120.0, "2m"),
        (3600, "1h"),
        (3723.004, "1h2m3s4ms"),
        (1.25, "1s250ms"),
        (86400, "24h"),
        (0.0001, "0.0001s"),
        (1e-7, "0.0000001s"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf")])
def test_format_duration_rejects(bad: float) -> None:
    with pytest.raises(ValueError):
        format_duration(bad)


@given(st.integers(min_value=0, max_value=10**13))
def test_round_trip_whole_milliseconds(millis: int) -> None:
    seconds = millis / 1000
    text = format_duration(seconds)
    assert parse_duration(text) == seconds
    assert "." not in text  # whole milliseconds always use units


@given(st.floats(min_value=0, max_value=1e15, allow_nan=False, allow_infinity=False))
def test_round_trip_any_float(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


@given(
    st.integers(0, 99),
    st.integers(0, 59),
    st.integers(0, 59),
    st.integers(0, 999),
)
def test_parse_of_composed_parts(h: int, m: int, s: int, ms: int) -> None:
    text = f"{h}h{m}m{s}s{ms}ms"
    expected = (h * 3_600_000 + m * 60_000 + s * 1000 + ms) / 1000
    assert parse_duration(text) == expected
    assert parse_duration(format_duration(expected)) == expected


class _Model(BaseModel):
    wait: Duration


def test_duration_field_in_a_model() -> None:
    assert _Model(wait="1m30s").wait == 90.0  # type: ignore[arg-type]
    assert _Model(wait=5).wait == 5.0
    with pytest.raises(ValidationError) as info:
        _Model(wait="soon")  # type: ignore[arg-type]
    assert "invalid duration 'soon'" in str(info.value)
    with pytest.raises(ValidationError):
        _Model(wait=None)  # type: ignore[arg-type]


def test_duration_json_schema_is_string_pattern_or_number() -> None:
    schema = _Model.model_json_schema()["properties"]["wait"]
    types = {branch["type"] for branch in schema["anyOf"]}
    assert types == {"number", "string"}
    pattern = next(b["pattern"] for b in schema["anyOf"] if b["type"] == "string")
    import re

    for good in ["30s", "1m30s", "500ms", "1h", "45", "2.5"]:
        assert re.search(pattern, good), good
    for bad in ["soon", "30 sec", "-1s"]:
        assert not re.search(pattern, bad), bad
    assert math.isclose(parse_duration("0.001s"), 0.001)
