"""The dependence model: seconds are clusters, and every interval uses an effective size.

Requests in one second are not independent: they share cold starts, throttling bursts,
GC pauses and the load generator's own hiccups. Treating them as independent makes every
interval too narrow (an i.i.d. resample of single requests flatters every method). The
verdicts therefore treat each **second as a cluster** and shrink the sample to its
effective size before any binomial (order-statistic, Clopper–Pearson) interval is built:

1. **Design effect** of a share (failures per request, requests at or above a latency):
   the cluster-robust (linearised ratio-estimator) variance over seconds,
   ``K/(K-1) * sum_k (y_k - p*m_k)^2 / n^2`` (``y_k`` events and ``m_k`` requests of second
   k), divided by the binomial variance ``p(1-p)/n``, and never taken below 1 — a sample is
   never treated as more informative than independent requests.
2. **Few seconds**: the variance itself is estimated from only K seconds, so the
   effective size is multiplied by ``(z_c / t_{c, K-1})^2`` (Korn & Graubard 1998,
   "Confidence intervals for proportions with small expected number of positive counts
   estimated from survey data", Survey Methodology 24(2)). One second alone is one
   observation.

So ``n_eff = n / deff * (z/t)^2``. This is a closed form, not a resample: a verdict is a
deterministic function of the per-second counts, and re-rendering a report never changes it.

Known limit: a share with no event at all (no failure in the phase) carries no evidence of
how events cluster, so its design effect is 1. Failures that come only in whole-second
bursts are then under-covered; ``docs/gate.md`` measures by how much.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import stats

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = [
    "EffectiveSize",
    "design_effect",
    "effective_requests",
    "effective_size",
    "share_variance",
    "whole_requests",
]


@dataclass(frozen=True)
class EffectiveSize:
    """How much evidence a share over per-second clusters carries."""

    units: int  # requests
    events: int
    seconds: int  # seconds that had requests
    design_effect: float
    effective_units: float  # n_eff: the independent requests it is worth

    @property
    def share(self) -> float:
        return self.events / self.units if self.units else float("nan")

    @property
    def effective_events(self) -> float:
        return self.share * self.effective_units if self.units else 0.0

    def to_dict(self) -> dict[str, float | int]:
        return {
            "requests": self.units,
            "events": self.events,
            "seconds": self.seconds,
            "design_effect": round(self.design_effect, 4),
            "effective_requests": round(self.effective_units, 2),
        }


def share_variance(events: NDArray[np.int64], units: NDArray[np.int64]) -> float:
    """Cluster-robust variance of ``sum(events) / sum(units)`` with one cluster per entry."""
    present = units > 0
    clusters = int(present.sum())
    total = float(units.sum())
    if clusters < 2 or total == 0:
        return float("nan")
    share = float(events.sum()) / total
    residuals = events[present] - share * units[present]
    return clusters / (clusters - 1) * float(np.dot(residuals, residuals)) / total**2


def design_effect(events: NDArray[np.int64], units: NDArray[np.int64]) -> float:
    """The share's cluster-robust variance over its binomial variance, at least 1."""
    total = float(units.sum())
    if total == 0:
        return 1.0
    share = float(events.sum()) / total
    binomial = share * (1 - share) / total
    clustered = share_variance(events, units)
    if binomial <= 0 or not np.isfinite(clustered):
        return 1.0
    return max(1.0, clustered / binomial)


def effective_size(
    events: NDArray[np.int64], units: NDArray[np.int64], confidence: float
) -> EffectiveSize:
    """The effective number of independent requests behind the share events/units."""
    total = int(units.sum())
    seconds = int((units > 0).sum())
    deff = design_effect(events, units)
    return EffectiveSize(
        total,
        int(events.sum()),
        seconds,
        deff,
        effective_requests(total, seconds, deff, confidence),
    )


def whole_requests(effective: float, requests: int) -> int:
    """The effective size as a whole number of requests for binomial ranks: rounded down
    (never more evidence than there is), ignoring float noise, and within 1..requests."""
    return max(1, min(requests, math.floor(effective + 1e-6)))


def effective_requests(requests: float, seconds: int, deff: float, confidence: float) -> float:
    """``requests / deff * (z_c / t_{c, seconds-1})^2``; one second alone is one request."""
    if seconds < 2:
        return float(min(requests, 1))
    return requests / max(deff, 1.0) * _small_sample_factor(confidence, seconds - 1)


@functools.lru_cache(maxsize=4096)
def _small_sample_factor(confidence: float, degrees_of_freedom: int) -> float:
    """(z_c / t_{c, df})^2: how much a variance estimated from df + 1 seconds costs."""
    return float((stats.norm.ppf(confidence) / stats.t.ppf(confidence, degrees_of_freedom)) ** 2)
