"""Human durations: ``30s``, ``2m``, ``1h``, ``1m30s``, ``500ms``; bare numbers are seconds.

``parse_duration`` turns them into float seconds, ``format_duration`` turns seconds back
into the shortest such string (``parse_duration(format_duration(x)) == x`` for every finite
``x >= 0``), and ``Duration`` is the pydantic field type that accepts both forms (built on
first use: this module is also imported where there is no pydantic, by the janitor).
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any

__all__ = ["DURATION_PATTERN", "Duration", "format_duration", "parse_duration"]

# Order matters: "ms" before "m" so that "500ms" is not read as 500 minutes + "s".
_UNITS: dict[str, Decimal] = {
    "h": Decimal(3600),
    "m": Decimal(60),
    "s": Decimal(1),
    "ms": Decimal("0.001"),
}
_RANK = {"h": 0, "m": 1, "s": 2, "ms": 3}
_NUMBER = r"\d+(?:\.\d+)?"
_PART = re.compile(rf"\s*({_NUMBER})\s*(ms|h|m|s)")
_COMPOUND = re.compile(rf"(?:\s*{_NUMBER}\s*(?:ms|h|m|s))+\s*")
_BARE = re.compile(rf"\s*{_NUMBER}\s*")

#: The string form, as a JSON Schema (ECMA-262) pattern.
DURATION_PATTERN = r"^\s*(\d+(\.\d+)?|(\d+(\.\d+)?\s*(ms|h|m|s)\s*)+)$"

_EXPECTED = "expected seconds as a number or a duration such as 30s, 2m, 1h, 1m30s, 500ms"


def _show(text: str) -> str:
    return repr(text) if len(text) <= 40 else f"of {len(text)} characters"


def parse_duration(text: str | int | float) -> float:
    """Return the duration ``text`` in seconds.

    Accepts a non-negative number (seconds), a numeric string (seconds), or a sequence of
    ``<number><unit>`` parts with units ``h``, ``m``, ``s``, ``ms`` from largest to smallest,
    each at most once (``1h30m``, ``1m30s``, ``1.5s``, ``500ms``).

    Raises ``ValueError`` with a message saying what is accepted.
    """
    if isinstance(text, bool):
        raise ValueError(f"invalid duration {text!r}: {_EXPECTED}")
    if isinstance(text, (int, float)):
        value = float(text)
        if math.isnan(value) or math.isinf(value):
            raise ValueError(f"invalid duration {text!r}: must be a finite number of seconds")
        if value < 0:
            raise ValueError(f"invalid duration {text!r}: must not be negative")
        return value
    if not isinstance(text, str):
        raise ValueError(f"invalid duration (a {type(text).__name__}): {_EXPECTED}")
    lowered = text.lower()
    if _BARE.fullmatch(lowered):
        return float(Decimal(lowered.strip()))
    if not _COMPOUND.fullmatch(lowered):
        stripped = lowered.strip()
        if stripped.startswith("-") and _COMPOUND.fullmatch(stripped[1:]):
            raise ValueError(f"invalid duration {_show(text)}: must not be negative")
        raise ValueError(f"invalid duration {_show(text)}: {_EXPECTED}")
    total = Decimal(0)
    last_rank = -1
    for number, unit in _PART.findall(lowered):
        rank = _RANK[unit]
        if rank <= last_rank:
            raise ValueError(
                f"invalid duration {_show(text)}: units must appear once each, "
                "from largest to smallest (h, m, s, ms), e.g. 1h30m or 1m30s"
            )
        last_rank = rank
        try:
            total += Decimal(number) * _UNITS[unit]
        except InvalidOperation as exc:  # pragma: no cover - the regex only lets digits through
            raise ValueError(f"invalid duration {_show(text)}: {_EXPECTED}") from exc
    return float(total)


def format_duration(seconds: float) -> str:
    """Return the shortest duration string for ``seconds`` (``90`` -> ``1m30s``).

    Whole milliseconds are written with units (``1h``, ``1m30s``, ``1s250ms``, ``0s``);
    anything finer is written as decimal seconds (``0.0001s``) so that the text always
    parses back to exactly the same float.
    """
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise ValueError(f"format_duration needs a number of seconds, not {type(seconds).__name__}")
    value = float(seconds)
    if math.isnan(value) or math.isinf(value) or value < 0:
        raise ValueError(f"format_duration needs a finite non-negative number, not {seconds!r}")
    millis = round(value * 1000)
    if millis / 1000 != value:
        text = format(Decimal(repr(value)), "f")
        return f"{text}s"
    if millis == 0:
        return "0s"
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, ms = divmod(rest, 1000)
    parts = [(hours, "h"), (minutes, "m"), (secs, "s"), (ms, "ms")]
    return "".join(f"{amount}{unit}" for amount, unit in parts if amount)


def _coerce(value: object) -> object:
    if isinstance(value, (str, int, float)):
        return parse_duration(value)
    raise ValueError(f"invalid duration (a {type(value).__name__}): {_EXPECTED}")


_DURATION_JSON_SCHEMA = {
    "anyOf": [
        {"type": "number", "minimum": 0},
        {"type": "string", "pattern": DURATION_PATTERN},
    ],
    "description": "seconds, or a duration such as 30s, 2m, 1h, 1m30s, 500ms",
}

if TYPE_CHECKING:
    from pydantic import BeforeValidator, WithJsonSchema

    #: A duration field: float seconds; accepts numbers and strings such as ``30s``.
    Duration = Annotated[float, BeforeValidator(_coerce), WithJsonSchema(_DURATION_JSON_SCHEMA)]
else:

    def __getattr__(name: str) -> Any:
        # pydantic only once a model asks for the field type: parse and format are also
        # used by the janitor's restore code, which runs where there is no pydantic.
        if name == "Duration":
            return _duration_field()
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@cache
def _duration_field() -> Any:
    """A duration field: float seconds; accepts numbers and strings such as ``30s``."""
    from pydantic import BeforeValidator, WithJsonSchema

    return Annotated[float, BeforeValidator(_coerce), WithJsonSchema(_DURATION_JSON_SCHEMA)]
