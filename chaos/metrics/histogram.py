"""A mergeable latency histogram (HDR): workers send it per second, phases merge them."""

from __future__ import annotations

from hdrh.histogram import HdrHistogram

# 1 µs resolution is not needed for HTTP latencies: record whole milliseconds, up to 1 h,
# with 3 significant digits (0.1% relative error).
_LOWEST_MS = 1
_HIGHEST_MS = 3_600_000
_SIGNIFICANT_DIGITS = 3


class LatencyHistogram:
    """Latencies in milliseconds; `encode`/`decode` travel between processes as text."""

    def __init__(self) -> None:
        self._histogram = HdrHistogram(_LOWEST_MS, _HIGHEST_MS, _SIGNIFICANT_DIGITS)

    def record(self, latency_ms: float, count: int = 1) -> None:
        value = min(max(int(round(latency_ms)), _LOWEST_MS), _HIGHEST_MS)
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

    def encode(self) -> str:
        return bytes(self._histogram.encode()).decode("ascii")

    @classmethod
    def decode(cls, text: str) -> LatencyHistogram:
        histogram = cls()
        if text:
            histogram._histogram.add(HdrHistogram.decode(text.encode("ascii")))
        return histogram
