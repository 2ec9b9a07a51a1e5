"""Recovery time relative to the baseline: seconds until the service is back in its band.

`recovery_time_s` today means "availability back to 99 % (or the baseline's) for 5
seconds". Relative to the baseline, a second of the recovery phase is **in band** when

- its failures are not significantly more than the baseline's failure share allows: the
  one-sided binomial test of its f failures out of m requests against the baseline's upper
  bound on that share (``chaos.verdict.rates``) does not reject at the gate's confidence;
- its median latency is at most the upper bound of the baseline's p95
  (``chaos.verdict.percentiles``): a second still at fault latency has most requests above
  it, an ordinary second has half of them below the baseline's median.

The service is back at the first of `streak` consecutive in-band seconds (seconds without
requests neither count nor break the streak), and the recovery time is that second's
offset from the start of the recovery sample, whose rows must be the seconds after the
end of the restore in time order, empty seconds included.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from chaos.verdict.percentiles import percentile_bounds
from chaos.verdict.rates import rate_bounds
from chaos.verdict.sample import PhaseSample, hdr_rank

__all__ = ["RECOVERY_STREAK_S", "RecoveryBand", "recovery_band", "recovery_time_s"]

RECOVERY_STREAK_S = 5


@dataclass(frozen=True)
class RecoveryBand:
    """What "back to the baseline" allows per second."""

    failure_share: float  # the baseline's upper bound on its failure share
    median_ms: float  # the largest per-second median latency in band
    confidence: float


def recovery_band(baseline: PhaseSample, confidence: float) -> RecoveryBand:
    _, errors, _ = rate_bounds(baseline, "error_rate", confidence)
    _, p95, _ = percentile_bounds(baseline, 95.0, confidence)
    return RecoveryBand(errors.high, p95.high, confidence)


def _in_band(sample: PhaseSample, second: int, band: RecoveryBand) -> bool:
    requests = int(sample.requests[second])
    failures = int(sample.failures[second])
    if failures and stats.binom.sf(failures - 1, requests, band.failure_share) <= (
        1 - band.confidence
    ):
        return False
    counts = sample.latency_counts[second]
    total = int(counts.sum())
    if not total:
        return True
    median_index = int(np.searchsorted(np.cumsum(counts), hdr_rank(total, 50)))
    return float(sample.latency_values[median_index]) <= band.median_ms


def recovery_time_s(
    recovery: PhaseSample, baseline: PhaseSample, confidence: float, streak: int = RECOVERY_STREAK_S
) -> float | None:
    """Seconds from the start of `recovery` until it is back in the baseline's band, or None
    when the phase never holds `streak` in-band seconds in a row (or the baseline had no
    requests to define a band)."""
    if baseline.total_requests == 0:
        return None
    band = recovery_band(baseline, confidence)
    start: int | None = None
    run = 0
    for second in range(recovery.seconds):
        if recovery.requests[second] == 0:
            continue
        if _in_band(recovery, second, band):
            start = second if run == 0 else start
            run += 1
            if run >= streak and start is not None:
                return float(start)
        else:
            run, start = 0, None
    return None
