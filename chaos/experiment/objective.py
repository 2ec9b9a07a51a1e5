"""SLO objectives: absolute (``>= 99%``, ``< 1500``, ``< 0.8s``) or relative to a reference
(``<= 1.5x baseline``, ``<= baseline + 200ms``, ``>= previous - 0.5%``).

Forms:

- absolute: ``<comparator> <number>[unit]``;
- relative by a factor: ``<comparator> <factor>x <reference>`` (``<= 1.5x baseline``);
- relative by an offset: ``<comparator> <reference> [+|- <number>[unit]]``
  (``<= baseline + 200ms``, ``>= previous - 0.5%``, ``<= baseline``);

with comparator one of ``>=``, ``>``, ``<=``, ``<``, ``==``, ``!=`` (relative: the first
four), unit one of ``%``, ``ms``, ``s`` or none, and reference ``baseline`` (the run's own
baseline phase) or ``previous`` (the same experiment's recent passing runs on the same
target). A factor and an offset together are refused (one margin, said one way).

**Units mean what they say.** Parsed for an SLI (``parse_objective(text, sli)``), the number
is converted to the unit the SLI is observed in (its catalog entry: ``latency_p99_ms`` in
milliseconds, so ``< 0.8s`` is 800 ms; ``waf_time_to_block_s`` in seconds, so ``<= 1500ms``
is 1.5 s); **percentages are fractions** (``availability >= 99%`` holds when the observed
fraction is ``>= 0.99``); a number without a unit is in the SLI's own unit. A unit that does
not fit the SLI (``%`` on a latency, ``ms`` on availability) is refused by
:func:`objective_problem`, which `validate` reports at file:line:col.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, cast, get_args

from chaos.metrics.catalog import CATALOG

__all__ = [
    "COMPARATORS",
    "REFERENCES",
    "UNITS",
    "Objective",
    "Reference",
    "SliUnit",
    "objective_problem",
    "parse_objective",
    "relative_slis",
    "sli_unit",
]

Comparator = Literal[">=", ">", "<=", "<", "==", "!="]
Unit = Literal["%", "ms", "s", ""]
Reference = Literal["baseline", "previous"]
#: The unit an SLI is observed in: milliseconds, seconds, a fraction (0..1) or a count.
SliUnit = Literal["ms", "s", "fraction", "count"]

COMPARATORS: tuple[Comparator, ...] = get_args(Comparator)
UNITS: tuple[Unit, ...] = get_args(Unit)
REFERENCES: tuple[Reference, ...] = get_args(Reference)
RELATIVE_COMPARATORS: tuple[Comparator, ...] = (">=", ">", "<=", "<")

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}

_CMP = r"\s*(?P<cmp>>=|<=|==|!=|>|<)\s*"
_NUM = r"(?:\d+(?:\.\d*)?|\.\d+)"
_REF = r"(?P<ref>baseline|previous)"
_ABSOLUTE = re.compile(_CMP + rf"(?P<num>[-+]?{_NUM})\s*(?P<unit>%|ms|s)?\s*")
_FACTOR = re.compile(_CMP + rf"(?P<factor>{_NUM})\s*x\s*{_REF}\s*")
_OFFSET = re.compile(
    _CMP + _REF + rf"(?:\s*(?P<sign>[-+])\s*(?P<num>{_NUM})\s*(?P<unit>%|ms|s)?)?\s*"
)
_BOTH = re.compile(_CMP + rf"{_NUM}\s*x\s*{_REF}\s*[-+]")  # a factor and an offset

_ACCEPTED = (
    "expected '<comparator> <number>[unit]' with comparator one of >=, >, <=, <, ==, != "
    "and unit one of %, ms, s or none (e.g. '>= 99%', '< 1500', '<= 60s', '== 0'), or a "
    "relative objective ('<= 1.5x baseline', '<= baseline + 200ms', '>= previous - 0.5%')"
)

_UNIT_NAMES: dict[SliUnit, str] = {
    "ms": "milliseconds",
    "s": "seconds",
    "fraction": "a fraction (write a percentage, e.g. 99%)",
    "count": "a count (a plain number)",
}
#: Which written units fit an SLI unit, and the factor to the SLI's unit.
_CONVERSION: dict[SliUnit, dict[Unit, float]] = {
    "ms": {"": 1.0, "ms": 1.0, "s": 1000.0},
    "s": {"": 1.0, "s": 1.0, "ms": 0.001},
    "fraction": {"": 1.0, "%": 0.01},
    "count": {"": 1.0},
}


def sli_unit(sli: str) -> SliUnit | None:
    """The unit `sli` is observed in, from the SLI catalog; None for an unknown SLI."""
    entry = CATALOG.get(sli)
    if entry is None:
        return None
    if entry.fraction:
        return "fraction"
    if sli.endswith("_ms"):
        return "ms"
    if sli.endswith("_s"):
        return "s"
    return "count"


def relative_slis() -> tuple[str, ...]:
    """The SLIs an objective may compare with a reference: latency percentiles of a phase
    (p50 ... max) and its rates (availability, error_rate) — those with a statistical check."""
    return tuple(
        name
        for name, entry in CATALOG.items()
        if entry.family == "phase"
        and (entry.key[0] == "latency_ms" or entry.key[0] in ("availability", "error_rate"))
    )


@dataclass(frozen=True)
class Objective:
    """A parsed objective.

    ``value`` is the number as written (99 for ``99%``; the signed offset of a relative
    objective, 0 without one), ``unit`` its unit. ``reference`` is set for a relative
    objective, with its ``factor``. ``sli_unit`` is set when parsed for an SLI: thresholds
    are then converted to it.
    """

    comparator: Comparator
    value: float
    unit: Unit = ""
    reference: Reference | None = None
    factor: float = 1.0
    sli_unit: SliUnit | None = field(default=None, compare=False)  # how it converts

    @property
    def relative(self) -> bool:
        return self.reference is not None

    @property
    def threshold(self) -> float:
        """The number in the unit observations are made in (a fraction for ``%``, ms for
        ``0.8s`` on a millisecond SLI); for a relative objective, its offset."""
        if self.sli_unit is None:
            return self.value / 100 if self.unit == "%" else self.value
        scale = _CONVERSION[self.sli_unit].get(self.unit)
        if scale is None:
            raise ValueError(self.unit_problem() or f"unit {self.unit!r} does not fit")
        return self.value * scale

    @property
    def offset(self) -> float:
        """A relative objective's offset in the SLI's unit (0 for a factor)."""
        return self.threshold if self.relative else 0.0

    def unit_problem(self) -> str | None:
        """Why the written unit does not fit the SLI's, or None."""
        if self.sli_unit is None or self.unit in _CONVERSION[self.sli_unit]:
            return None
        return (
            f"unit {self.unit!r} does not fit an SLI measured in "
            f"{_UNIT_NAMES[self.sli_unit]}: {self._fitting_units()}"
        )

    def _fitting_units(self) -> str:
        fitting = [unit for unit in _CONVERSION[self.sli_unit or "count"] if unit]
        return f"use {' or '.join(fitting)} or no unit" if fitting else "use no unit"

    def holds(self, observed: float) -> bool:
        """Whether ``observed`` (in the SLI's unit) meets an absolute objective.

        For ``%`` objectives ``observed`` is a fraction in 0..1 (``0.995`` for 99.5%).
        A NaN observation (nothing measured) never holds.
        """
        if self.relative:
            raise ValueError(f"{self} compares with the {self.reference}: judge it with it")
        if math.isnan(observed):
            return False
        threshold = self.threshold
        if self.comparator in ("==", "!=") and self.unit == "%":
            # 99.9% is 0.999 only up to float rounding: compare percentages with a tolerance.
            equal = math.isclose(observed, threshold, rel_tol=1e-9, abs_tol=1e-12)
            return equal if self.comparator == "==" else not equal
        return _OPS[self.comparator](observed, threshold)

    def __str__(self) -> str:
        number = _number(self.value)
        if self.reference is None:
            return f"{self.comparator} {number}{self.unit}"
        if self.factor != 1.0:
            return f"{self.comparator} {_number(self.factor)}x {self.reference}"
        if self.value == 0:
            return f"{self.comparator} {self.reference}"
        sign = "-" if self.value < 0 else "+"
        return f"{self.comparator} {self.reference} {sign} {_number(abs(self.value))}{self.unit}"


def _number(value: float) -> str:
    return f"{value:.0f}" if value.is_integer() else repr(value)


def parse_objective(text: str, sli: str | None = None) -> Objective:
    """Parse ``text`` such as ``">= 99%"`` (for `sli`: converted to its unit); raise
    ``ValueError`` naming the accepted forms."""
    if not isinstance(text, str):
        raise ValueError(f"invalid objective (a {type(text).__name__}): {_ACCEPTED}")
    shown = repr(text) if len(text) <= 40 else f"of {len(text)} characters"
    unit_of_sli = sli_unit(sli) if sli is not None else None
    objective = _parse(text, shown)
    if unit_of_sli is not None:
        objective = Objective(
            objective.comparator,
            objective.value,
            objective.unit,
            objective.reference,
            objective.factor,
            unit_of_sli,
        )
    return objective


def _parse(text: str, shown: str) -> Objective:
    if _BOTH.match(text):
        raise ValueError(
            f"invalid objective {shown}: a factor and an offset together; write one margin "
            "('<= 1.5x baseline' or '<= baseline + 200ms')"
        )
    absolute = _ABSOLUTE.fullmatch(text)
    if absolute is not None:
        return _absolute(absolute, shown)
    factor = _FACTOR.fullmatch(text)
    if factor is not None:
        value = float(factor["factor"])
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"invalid objective {shown}: the factor must be a positive number")
        return Objective(
            _relative_comparator(factor["cmp"], shown),
            0.0,
            "",
            cast(Reference, factor["ref"]),
            value,
        )
    offset = _OFFSET.fullmatch(text)
    if offset is not None:
        number = float(offset["num"]) if offset["num"] else 0.0
        if not math.isfinite(number):
            raise ValueError(f"invalid objective {shown}: the number is too large")
        if offset["unit"] == "%" and number > 100:
            raise ValueError(f"invalid objective {shown}: a percentage must be within 0..100")
        signed = -number if offset["sign"] == "-" else number
        return Objective(
            _relative_comparator(offset["cmp"], shown),
            signed + 0.0,
            cast(Unit, offset["unit"] or ""),
            cast(Reference, offset["ref"]),
        )
    raise ValueError(f"invalid objective {shown}: {_ACCEPTED}")


def _absolute(match: re.Match[str], shown: str) -> Objective:
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


def _relative_comparator(text: str, shown: str) -> Comparator:
    if text not in RELATIVE_COMPARATORS:
        raise ValueError(
            f"invalid objective {shown}: a relative objective compares with "
            f"{', '.join(RELATIVE_COMPARATORS)}"
        )
    return cast(Comparator, text)


def objective_problem(sli: str, text: str, phases: Sequence[str] = ()) -> str | None:
    """Why `text` is not a valid objective for `sli` checked in `phases`, or None.

    Checks the form, that the unit fits the SLI, and where a relative objective can be
    judged (a statistical SLI, a phase, never the baseline against itself).
    """
    try:
        objective = parse_objective(text, sli)
    except ValueError as error:
        return str(error)
    problem = objective.unit_problem()
    if problem is not None:
        return f"{sli}: {problem}"
    if objective.reference is None:
        return None
    if sli not in relative_slis():
        return (
            f"{sli} cannot be compared with the {objective.reference}: relative objectives "
            f"apply to {', '.join(relative_slis())}"
        )
    if not phases:
        return f"a relative objective needs a phase (e.g. phase: recovery): {text!r}"
    if objective.reference == "baseline" and "baseline" in phases:
        return "the baseline phase cannot be compared with itself: use 'previous' or a number"
    return None
