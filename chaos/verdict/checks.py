"""One entry point for the SLO gate: judge an SLI of a phase against an objective.

The SLI names come from the catalog (``chaos.metrics.catalog``): an SLI whose value lives
at ``latency_ms.<p>`` is a percentile check, ``availability`` and ``error_rate`` are rate
checks. Objectives are :class:`Absolute` (``< 1500``) or :class:`Relative` (``<= 1.5x
baseline``, ``>= previous - 0.5%``); a relative p50 compares centres (rank test,
``chaos.verdict.centre``), any other relative percentile compares tails
(``chaos.verdict.percentiles``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, cast, get_args

from chaos.metrics.catalog import CATALOG
from chaos.verdict.centre import check_centre_relative
from chaos.verdict.model import CheckVerdict, Comparator, unmeasured
from chaos.verdict.percentiles import (
    PERCENT_OF,
    PercentileKey,
    check_percentile,
    check_percentile_relative,
)
from chaos.verdict.rates import RATE_SLIS, RateSli, check_rate, check_rate_relative
from chaos.verdict.sample import PhaseSample

__all__ = ["REFERENCES", "Absolute", "Reference", "Relative", "judge", "statistical_slis"]

Reference = Literal["baseline", "previous"]
REFERENCES: tuple[Reference, ...] = get_args(Reference)


@dataclass(frozen=True)
class Absolute:
    """``<comparator> threshold`` in the SLI's unit (a fraction for rates, ms for latency)."""

    comparator: Comparator
    threshold: float


@dataclass(frozen=True)
class Relative:
    """``<comparator> factor x reference + offset`` (offset in the SLI's unit)."""

    comparator: Comparator
    reference: Reference
    factor: float = 1.0
    offset: float = 0.0


def statistical_slis() -> tuple[str, ...]:
    """The catalog's SLIs that get an interval and a three-way verdict."""
    return tuple(name for name in CATALOG if _kind(name) is not None)


def _kind(sli: str) -> tuple[str, str] | None:
    entry = CATALOG.get(sli)
    if entry is None or entry.family != "phase":
        return None
    if entry.key[0] == "latency_ms" and entry.key[1] in PERCENT_OF:
        return "percentile", entry.key[1]
    if entry.key[0] in RATE_SLIS:
        return "rate", entry.key[0]
    return None


def judge(
    sli: str,
    current: PhaseSample,
    objective: Absolute | Relative,
    confidence: float,
    reference: PhaseSample | None = None,
) -> CheckVerdict:
    """The verdict of `sli` on `current`. A relative objective needs `reference` (the run's
    baseline phase, or the pooled earlier runs of `chaos.verdict.history`)."""
    kind = _kind(sli)
    threshold = (
        objective.threshold
        if isinstance(objective, Absolute)
        else (objective.factor if objective.offset == 0 else objective.offset)
    )
    if kind is None:
        raise ValueError(f"{sli} has no statistical check; judge its observed value")
    if isinstance(objective, Relative) and reference is None:
        return unmeasured(
            f"not measured: no {objective.reference} to compare with",
            objective.comparator,
            threshold,
        )
    family, key = kind
    if family == "rate":
        rate = cast(RateSli, key)
        if isinstance(objective, Absolute):
            return check_rate(current, rate, objective.comparator, objective.threshold, confidence)
        assert reference is not None
        return check_rate_relative(
            current,
            reference,
            rate,
            objective.comparator,
            objective.factor,
            objective.offset,
            confidence,
        )
    percentile = cast(PercentileKey, key)
    if isinstance(objective, Absolute):
        return check_percentile(
            current, percentile, objective.comparator, objective.threshold, confidence
        )
    assert reference is not None
    if percentile == "p50":
        return check_centre_relative(
            current, reference, objective.comparator, objective.factor, objective.offset, confidence
        )
    return check_percentile_relative(
        current,
        reference,
        percentile,
        objective.comparator,
        objective.factor,
        objective.offset,
        confidence,
    )
