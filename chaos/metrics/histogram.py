"""A mergeable latency histogram (HDR): workers send one per row, phases merge them.

Range and precision are chosen, not defaulted:

- whole milliseconds from 1 ms to 15 minutes. Fifteen minutes is Lambda's maximum
  function timeout (AWS Lambda quotas); a client-side latency above it is a client
  timeout, not a measurement, and is clamped to the maximum.
- 2 significant digits: every recorded value is kept within 1% (HDR buckets of 1/128 of a
  power of two, so at most 0.8%), far below the run-to-run noise of a latency SLO, for
  about 15 KB per histogram instead of 107 KB at 3 digits and a 1 h range. The streaming
  aggregation keeps a few hundred of them at most, whatever the length of the run.
"""

from __future__ import annotations

from hdrh.histogram import HdrHistogram

LOWEST_MS = 1
HIGHEST_MS = 15 * 60 * 1000
SIGNIFICANT_DIGITS = 2
#: The largest relative error of a reported percentile (see the module docstring).
RELATIVE_PRECISION = 0.01


class LatencyHistogram:
    """Latencies in milliseconds; `encode`/`decode` travel between processes as text."""

    __slots__ = ("_histogram",)

    def __init__(self, histogram: HdrHistogram | None = None) -> None:
        self._histogram = histogram or HdrHistogram(LOWEST_MS, HIGHEST_MS, SIGNIFICANT_DIGITS)

    def record(self, latency_ms: float, count: int = 1) -> None:
        value = min(max(int(round(latency_ms)), LOWEST_MS), HIGHEST_MS)
        self._histogram.record_value(value, count)

    def merge(self, other: LatencyHistogram) -> LatencyHistogram:
        """Add `other`'s samples into this one; returns self."""
        if other.count:
            self._histogram.add(other._histogram)
        return self

    @property
    def count(self) -> int:
        return int(self._histogram.get_total_count())

    @property
    def max_ms(self) -> float:
        return float(self._histogram.get_max_value()) if self.count else 0.0

    def percentile(self, percent: float) -> float:
        """The latency at `percent` (0-100), in ms; 0.0 for an empty histogram."""
        if not self.count:
            return 0.0
        return float(self._histogram.get_value_at_percentile(percent))

    def summary(self) -> dict[str, float]:
        return {
            "p50": self.percentile(50),
            "p90": self.percentile(90),
            "p95": self.percentile(95),
            "p99": self.percentile(99),
            "max": self.max_ms,
        }

    def value_counts(self) -> str:
        """The recorded buckets as ``"value_ms:count,..."`` (ascending; each bucket as its
        highest equivalent value, as percentiles report it): the per-second evidence the
        SLO verdicts judge (``chaos.verdict.sample_from_record``)."""
        if not self.count:
            return ""
        return ",".join(
            f"{int(item.value_iterated_to)}:{int(item.count_added_in_this_iter_step)}"
            for item in self._histogram.get_recorded_iterator()
        )

    def encode(self) -> str:
        return bytes(self._histogram.encode()).decode("ascii")

    @classmethod
    def decode(cls, text: str) -> LatencyHistogram:
        if not text:
            return cls()
        decoded = HdrHistogram.decode(text.encode("ascii"))
        if (
            decoded.lowest_trackable_value,
            decoded.highest_trackable_value,
            decoded.significant_figures,
        ) == (LOWEST_MS, HIGHEST_MS, SIGNIFICANT_DIGITS):
            return cls(decoded)
        return cls().merge(cls(decoded))  # written with other bounds: re-bucket
