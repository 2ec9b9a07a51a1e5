"""Which share of each CloudWatch datapoint falls to each phase of a run.

CloudWatch keeps Lambda, API Gateway and WAF metrics one datapoint a minute, and a phase
boundary falls anywhere in a minute. Each datapoint is split between the segments of the
run by the share of the run's time in its minute that each covers: a minute half baseline,
half fault gives half its count to each; the seconds between two phases (the transition)
take their share too, and it goes to no phase. The run's part of a minute is the
denominator, not the whole minute: the load only runs inside the run, so the seconds of
its first and last minutes outside it bring (next to) nothing. The run itself takes every
minute it touches whole. A minute shared by several segments is a boundary minute: the
result lists each with its shares.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from chaos.clock import iso_from_epoch
from chaos.metrics.cloudwatch import aligned
from chaos.phases import TRANSITION

__all__ = [
    "PeriodShares",
    "attribution_label",
    "boundary_periods",
    "period_shares",
    "run_span",
    "shares_of",
]

Window = tuple[float, float]


@dataclass(frozen=True)
class PeriodShares:
    """One datapoint's period and the share of it each segment of the run takes."""

    start: int
    period_s: int
    shares: dict[str, float]  # phase (or TRANSITION) -> share of the run's time in it

    def as_dict(self) -> dict[str, object]:
        return {
            "from": iso_from_epoch(self.start),
            "to": iso_from_epoch(self.start + self.period_s),
            "shares": {name: round(share, 3) for name, share in self.shares.items()},
        }


def attribution_label(period_s: int) -> str:
    """How the figures were attributed, as the result says it: ``per-minute share``."""
    return "per-minute share" if period_s == 60 else f"per-{period_s // 60}-minute share"


def run_span(phase_windows: Mapping[str, Window]) -> Window:
    """From the first phase's start to the last phase's end."""
    return (
        min(start for start, _ in phase_windows.values()),
        max(end for _, end in phase_windows.values()),
    )


def period_shares(phase_windows: Mapping[str, Window], period_s: int) -> list[PeriodShares]:
    """Every period the run touches, in time order, with each segment's share of it."""
    span = run_span(phase_windows)
    first, last = aligned(*span, period_s)
    periods = []
    for start in range(first, last, period_s):
        period = (float(start), float(start + period_s))
        run_part = _overlap(span, period)
        if run_part <= 0:
            continue
        shares = {
            name: _overlap(window, period) / run_part
            for name, window in sorted(phase_windows.items(), key=lambda item: item[1])
            if _overlap(window, period) > 0
        }
        between = 1.0 - sum(shares.values())
        if between > 1e-9:
            shares[TRANSITION] = between
        periods.append(PeriodShares(start, period_s, shares))
    return periods


def shares_of(periods: list[PeriodShares], phase: str | None) -> dict[int, float]:
    """Period start -> the share of it that falls to `phase` (None: the run, all of it)."""
    if phase is None:
        return {period.start: 1.0 for period in periods}
    return {period.start: period.shares[phase] for period in periods if phase in period.shares}


def boundary_periods(
    periods: list[PeriodShares], phase: str | None = None
) -> list[dict[str, object]]:
    """The periods shared by several segments (those `phase` has a share of), for the
    result."""
    return [
        period.as_dict()
        for period in periods
        if len(period.shares) > 1 and (phase is None or phase in period.shares)
    ]


def _overlap(window: Window, period: Window) -> float:
    return max(0.0, min(window[1], period[1]) - max(window[0], period[0]))
