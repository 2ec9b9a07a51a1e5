"""SLO objectives such as ``>= 99%``, ``< 1500``, ``<= 60s``, ``== 0``.

An objective is ``<comparator> <number>[unit]``:

- comparator: one of ``>=``, ``>``, ``<=``, ``<``, ``==``, ``!=``;
- unit: ``%``, ``ms``, ``s`` or none.

Units other than ``%`` are informational: the observed value is compared as is, in the
unit the SLI is measured in (``latency_p99_ms`` in milliseconds, ``waf_time_to_block_s``
in seconds). **Percentages are fractions**: an SLI such as ``availability`` or
``error_rate`` is observed as a fraction in 0..1, and ``>= 99%`` holds when the observed
value is ``>= 0.99``. A percentage must lie within 0..100.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, cast

__all__ = ["COMPARATORS", "UNITS", "Objective", "parse_objective"]

Comparator = Literal[">=", ">", "<=", "<", "==", "!="]
Unit = Literal["%", "ms", "s", ""]

COMPARATORS: tuple[Comparator, ...] = (">=", ">", "<=", "<", "==", "!=")
UNITS: tuple[Unit, ...] = ("%", "ms", "s", "")

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}

_FORM = re.compile(
    r"\s*(?P<cmp>>=|<=|==|!=|>|<)\s*(?P<num>[-+]?(?:\d+(?:\.\d*)?|\.\d+))\s*(?P<unit>%|ms|s)?\s*"
)

_ACCEPTED = (
    "expected '<comparator> <number>[unit]' with comparator one of >=, >, <=, <, ==, != "
    "and unit one of %, ms, s or none (e.g. '>= 99%', '< 1500', '<= 60s', '== 0')"
)


@dataclass(frozen=True)
class Objective:
    """A parsed objective. ``value`` is the number as written (99 for ``99%``)."""

    comparator: Comparator
    value: float
    unit: Unit = ""

    @property
    def threshold(self) -> float:
        """The value in the unit observations are made in (a fraction for ``%``)."""
        return self.value / 100 if self.unit == "%" else self.value

    def holds(self, observed: float) -> bool:
        """Whether ``observed`` meets the objective.

        For ``%`` objectives ``observed`` is a fraction in 0..1 (``0.995`` for 99.5%).
        A NaN observation (nothing measured) never holds.
        """
        if math.isnan(observed):
            return False
        threshold = self.threshold
        if self.comparator in ("==", "!=") and self.unit == "%":
            # 99.9% is 0.999 only up to float rounding: compare percentages with a tolerance.
            equal = math.isclose(observed, threshold, rel_tol=1e-9, abs_tol=1e-12)
            return equal if self.comparator == "==" else not equal
        return _OPS[self.comparator](observed, threshold)

    def __str__(self) -> str:
        number = f"{self.value:.0f}" if self.value.is_integer() else repr(self.value)
        return f"{self.comparator} {number}{self.unit}"


def parse_objective(text: str) -> Objective:
    """Parse ``text`` such as ``">= 99%"``; raise ``ValueError`` naming the accepted form."""
    if not isinstance(text, str):
        raise ValueError(f"invalid objective (a {type(text).__name__}): {_ACCEPTED}")
    shown = repr(text) if len(text) <= 40 else f"of {len(text)} characters"
    match = _FORM.fullmatch(text)
    if match is None:
        raise ValueError(f"invalid objective {shown}: {_ACCEPTED}")
    value = float(match["num"])
    unit = cast(Unit, match["unit"] or "")
    if not math.isfinite(value):
        raise ValueError(f"invalid objective {shown}: the number is too large")
    if unit == "%" and not 0 <= value <= 100:
        raise ValueError(
            f"invalid objective {shown}: a percentage must be within 0..100 "
            "(observed values are fractions: 99% means 0.99)"
        )
    return Objective(comparator=cast(Comparator, match["cmp"]), value=value, unit=unit)
