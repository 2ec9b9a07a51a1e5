"""What a statistical check answers: a three-way verdict, an interval, and the gate's rule.

Every interval here is a pair of **one-sided bounds at the gate's confidence**: with
``confidence=0.95`` the low end is a 95 % lower bound and the high end a 95 % upper bound
(together a 90 % two-sided interval). A check is

- **passed** when the bound on the objective's side of the threshold clears it (the
  evidence supports the objective at that confidence),
- **failed** when the bound on the other side is past it (the evidence supports the breach),
- **inconclusive** otherwise (the interval straddles the threshold).

So an unchanged service is called failed, and a breaching one passed, each at most
``1 - confidence`` of the time — when the interval's assumptions hold (see
``chaos.verdict.clustering`` for the dependence model).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

__all__ = [
    "COMPARATORS",
    "DEFAULT_CONFIDENCE",
    "INCONCLUSIVE_RULES",
    "UNMEASURED_REASONS",
    "VERDICTS",
    "CheckVerdict",
    "Comparator",
    "GateSettings",
    "InconclusiveRule",
    "Interval",
    "Verdict",
    "gate_passes",
    "gate_settings",
    "unmeasured",
    "verdict_against",
]

Verdict = Literal["passed", "failed", "inconclusive"]
VERDICTS: tuple[Verdict, ...] = get_args(Verdict)
InconclusiveRule = Literal["fail", "pass"]
INCONCLUSIVE_RULES: tuple[InconclusiveRule, ...] = get_args(InconclusiveRule)
Comparator = Literal[">=", ">", "<=", "<", "==", "!="]
COMPARATORS: tuple[Comparator, ...] = get_args(Comparator)
#: Why a check had no figure to judge; each is a failure whatever the gate setting.
UnmeasuredReason = Literal["not measured", "not settled"]
UNMEASURED_REASONS: tuple[UnmeasuredReason, ...] = get_args(UnmeasuredReason)

DEFAULT_CONFIDENCE = 0.95

_MEETS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    "<": operator.lt,
    ">=": operator.ge,
    ">": operator.gt,
}


@dataclass(frozen=True)
class GateSettings:
    """The gate's `confidence` (per bound) and what an inconclusive check does to the exit code."""

    confidence: float = DEFAULT_CONFIDENCE
    inconclusive: InconclusiveRule = "fail"

    def __post_init__(self) -> None:
        if not 0.5 < self.confidence < 1:
            raise ValueError(
                f"confidence must lie strictly between 0.5 and 1, not {self.confidence!r}"
            )
        if self.inconclusive not in INCONCLUSIVE_RULES:
            raise ValueError(
                f"inconclusive must be one of {', '.join(INCONCLUSIVE_RULES)}, "
                f"not {self.inconclusive!r}"
            )


@dataclass(frozen=True)
class Interval:
    """One-sided bounds ``low`` and ``high`` (each at `confidence`); ±inf where the data
    cannot bound that side (too few requests)."""

    low: float
    high: float
    confidence: float
    method: str

    def __post_init__(self) -> None:
        if self.low > self.high:
            raise ValueError(f"interval low {self.low} > high {self.high}")

    @property
    def bounded(self) -> bool:
        return math.isfinite(self.low) and math.isfinite(self.high)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: an unbounded side is None (JSON has no infinity)."""
        return {
            "low": self.low if math.isfinite(self.low) else None,
            "high": self.high if math.isfinite(self.high) else None,
            "confidence": self.confidence,
            "method": self.method,
        }


@dataclass(frozen=True)
class CheckVerdict:
    """The answer of one check.

    ``observed`` is the point value in the SLI's unit (the figure `result.json` reports);
    ``interval`` bounds what is compared with ``threshold``: the SLI itself for an absolute
    objective, the effect (ratio or difference to the reference) for a relative one, so
    ``interval`` and ``threshold`` are always in the same terms. ``details`` holds the
    figures behind the interval (effective sample size, design effect, the reference's
    interval, ...) for the report.
    """

    verdict: Verdict
    observed: float | None
    interval: Interval | None
    threshold: float
    comparator: Comparator
    note: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def unmeasured(self) -> bool:
        return self.note is not None and self.note.startswith(UNMEASURED_REASONS)

    def passes(self, settings: GateSettings) -> bool:
        """Whether this check lets the gate pass (see `gate_passes`)."""
        return gate_passes(self, settings)

    def to_dict(self, settings: GateSettings) -> dict[str, Any]:
        """The keys a result.json `slo` entry gains: `verdict`, `interval`, `passed`."""
        entry: dict[str, Any] = {
            "verdict": self.verdict,
            "passed": self.passes(settings),
            "observed": self.observed,
            "threshold": self.threshold,
            "interval": self.interval.to_dict() if self.interval else None,
        }
        if self.note:
            entry["note"] = self.note
        if self.details:
            entry["details"] = self.details
        return entry


def gate_settings(record: Any) -> GateSettings:
    """The gate a result was judged at, from its ``gate`` key ({confidence, inconclusive});
    absent or malformed (an edited result.json): the default, 95 % and inconclusive fails."""
    if not isinstance(record, dict):
        return GateSettings()
    try:
        return GateSettings(
            float(record.get("confidence", DEFAULT_CONFIDENCE)), record.get("inconclusive", "fail")
        )
    except (TypeError, ValueError):
        return GateSettings()


def gate_passes(check: CheckVerdict, settings: GateSettings) -> bool:
    """passed → True, failed → False, inconclusive → the gate's rule; a check that was not
    measured or not settled is False whatever the rule."""
    if check.unmeasured:
        return False
    if check.verdict == "inconclusive":
        return settings.inconclusive == "pass"
    return check.verdict == "passed"


def unmeasured(reason: str, comparator: Comparator, threshold: float) -> CheckVerdict:
    """A failed check with no figure; `reason` starts with one of UNMEASURED_REASONS."""
    if not reason.startswith(UNMEASURED_REASONS):
        raise ValueError(f"reason must start with one of {UNMEASURED_REASONS}: {reason!r}")
    return CheckVerdict("failed", None, None, threshold, comparator, note=reason)


def verdict_against(interval: Interval, comparator: Comparator, threshold: float) -> Verdict:
    """The verdict of ``value <comparator> threshold`` when `value` lies within `interval`.

    passed: every value in the interval meets the objective; failed: none does.
    """
    low, high = interval.low, interval.high
    if comparator in ("<=", "<"):
        meets = _MEETS[comparator]
        if meets(high, threshold):
            return "passed"
        return "failed" if not meets(low, threshold) else "inconclusive"
    if comparator in (">=", ">"):
        meets = _MEETS[comparator]
        if meets(low, threshold):
            return "passed"
        return "failed" if not meets(high, threshold) else "inconclusive"
    inside = low <= threshold <= high
    if comparator == "==":
        if low == high == threshold:
            return "passed"
        return "inconclusive" if inside else "failed"
    if low == high == threshold:
        return "failed"
    return "inconclusive" if inside else "passed"
