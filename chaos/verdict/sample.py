"""The evidence a check judges: one phase's requests, kept per second.

A second is the unit of dependence (requests in one second share cold starts, throttling
bursts and GC pauses; see ``chaos.verdict.clustering``), so a :class:`PhaseSample` keeps,
for each second, its request and failure counts and its latency histogram as counts on
one grid of latency values. Earlier runs pool into one sample by concatenating their
seconds (each run's seconds stay separate blocks).

Latency values are the HDR histogram's bucket values (``chaos.metrics.histogram``: 1 ms to
15 min, 2 significant digits, each bucket reported as its highest equivalent value), and
percentiles are ranked as HdrHistogram ranks them, so a sample's percentile equals the
figure `result.json` reports for the same requests.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from hdrh.histogram import HdrHistogram

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from chaos.metrics.histogram import LatencyHistogram

__all__ = [
    "PhaseSample",
    "SecondBlock",
    "hdr_rank",
    "latency_counts",
    "sample_from_record",
    "sample_to_record",
]


@dataclass(frozen=True)
class SecondBlock:
    """One second of one phase: counts, and latency as {value_ms: requests}."""

    requests: int
    failures: int
    latency_ms: Mapping[float, int]


def latency_counts(histogram: LatencyHistogram) -> dict[float, int]:
    """{bucket value (ms): count} of a latency histogram, from its public encoding."""
    encoded = histogram.encode()
    if not encoded:
        return {}
    decoded = HdrHistogram.decode(encoded.encode("ascii"))
    return {
        float(item.value_iterated_to): int(item.count_added_in_this_iter_step)
        for item in decoded.get_recorded_iterator()
    }


def hdr_rank(total: int, percent: float) -> int:
    """The 1-based rank HdrHistogram reports as the `percent` percentile of `total` values."""
    return max(1, min(total, int(percent * total / 100 + 0.5)))


@dataclass(frozen=True, eq=False)
class PhaseSample:
    """Per-second counts of one phase: ``requests[k]``, ``failures[k]``, and
    ``latency_counts[k, b]`` requests of second k at latency ``latency_values[b]`` (ms,
    ascending)."""

    requests: NDArray[np.int64]
    failures: NDArray[np.int64]
    latency_values: NDArray[np.float64]
    latency_counts: NDArray[np.int64]

    def __post_init__(self) -> None:
        seconds = self.requests.shape[0]
        if self.failures.shape != (seconds,):
            raise ValueError("requests and failures must have one entry per second")
        if self.latency_counts.shape != (seconds, self.latency_values.shape[0]):
            raise ValueError("latency_counts must be seconds x latency values")
        if np.any(self.failures > self.requests) or np.any(self.failures < 0):
            raise ValueError("each second needs 0 <= failures <= requests")
        if np.any(np.diff(self.latency_values) <= 0):
            raise ValueError("latency values must be strictly ascending")
        if self.latency_values.shape[0] and self.latency_values[0] <= 0:
            raise ValueError("latency values must be positive (HDR records from 1 ms)")

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_seconds(cls, seconds: Iterable[SecondBlock]) -> PhaseSample:
        blocks = list(seconds)
        values = sorted({float(value) for block in blocks for value in block.latency_ms})
        column = {value: index for index, value in enumerate(values)}
        counts = np.zeros((len(blocks), len(values)), dtype=np.int64)
        for row, block in enumerate(blocks):
            for value, count in block.latency_ms.items():
                counts[row, column[float(value)]] += int(count)
        return cls(
            np.array([block.requests for block in blocks], dtype=np.int64),
            np.array([block.failures for block in blocks], dtype=np.int64),
            np.array(values, dtype=np.float64),
            counts,
        )

    @classmethod
    def from_histograms(cls, seconds: Iterable[tuple[int, int, LatencyHistogram]]) -> PhaseSample:
        """From (requests, failures, latency histogram) per second (e.g. merged load rows)."""
        return cls.from_seconds(
            SecondBlock(requests, failures, latency_counts(histogram))
            for requests, failures, histogram in seconds
        )

    @classmethod
    def pooled(cls, samples: Sequence[PhaseSample]) -> PhaseSample:
        """The seconds of several samples (earlier runs) as one sample."""
        if not samples:
            return cls.from_seconds([])
        values = np.unique(np.concatenate([sample.latency_values for sample in samples]))
        blocks = []
        for sample in samples:
            widened = np.zeros((sample.seconds, values.shape[0]), dtype=np.int64)
            widened[:, np.searchsorted(values, sample.latency_values)] = sample.latency_counts
            blocks.append(widened)
        return cls(
            np.concatenate([sample.requests for sample in samples]),
            np.concatenate([sample.failures for sample in samples]),
            values,
            np.concatenate(blocks, axis=0),
        )

    # ------------------------------------------------------------------ figures

    @property
    def seconds(self) -> int:
        return int(self.requests.shape[0])

    @property
    def total_requests(self) -> int:
        return int(self.requests.sum())

    @property
    def total_failures(self) -> int:
        return int(self.failures.sum())

    @property
    def latencies_per_second(self) -> NDArray[np.int64]:
        return self.latency_counts.sum(axis=1)

    @property
    def total_latencies(self) -> int:
        return int(self.latency_counts.sum())

    def merged_counts(self) -> NDArray[np.int64]:
        """Requests per latency value over the whole phase (the merged histogram)."""
        return self.latency_counts.sum(axis=0)

    def value_at_rank(self, rank: int) -> float:
        """The `rank`-th smallest latency (1-based); clamped to the sample."""
        cumulative = np.cumsum(self.merged_counts())
        if cumulative.shape[0] == 0 or cumulative[-1] == 0:
            raise ValueError("no latencies in the sample")
        rank = max(1, min(int(rank), int(cumulative[-1])))
        return float(self.latency_values[int(np.searchsorted(cumulative, rank))])

    def percentile(self, percent: float) -> float:
        """The latency at `percent` (0-100), ranked as HdrHistogram ranks it."""
        return self.value_at_rank(hdr_rank(self.total_latencies, percent))

    @property
    def max_ms(self) -> float:
        return self.value_at_rank(self.total_latencies)

    def at_or_above_per_second(self, threshold_ms: float) -> NDArray[np.int64]:
        """Per second: how many latencies are >= `threshold_ms`."""
        first = int(np.searchsorted(self.latency_values, threshold_ms, side="left"))
        return self.latency_counts[:, first:].sum(axis=1)

    def above_per_second(self, threshold_ms: float) -> NDArray[np.int64]:
        """Per second: how many latencies are > `threshold_ms`."""
        first = int(np.searchsorted(self.latency_values, threshold_ms, side="right"))
        return self.latency_counts[:, first:].sum(axis=1)


def sample_to_record(sample: PhaseSample) -> list[list[int | str]]:
    """A compact JSON form: per second ``[requests, failures, "value_ms:count,..."]``."""
    return [
        [
            int(requests),
            int(failures),
            ",".join(
                f"{value:g}:{int(count)}"
                for value, count in zip(sample.latency_values.tolist(), row.tolist(), strict=True)
                if count
            ),
        ]
        for requests, failures, row in zip(
            sample.requests, sample.failures, sample.latency_counts, strict=True
        )
    ]


def sample_from_record(record: Sequence[Sequence[int | str]]) -> PhaseSample:
    """The inverse of `sample_to_record`; raises ValueError on a malformed record."""
    blocks = []
    for entry in record:
        if len(entry) != 3:
            raise ValueError(f"a second needs [requests, failures, latencies], not {entry!r}")
        requests, failures, latencies = entry
        pairs = (item.split(":") for item in str(latencies).split(",") if item)
        blocks.append(
            SecondBlock(
                int(requests), int(failures), {float(value): int(count) for value, count in pairs}
            )
        )
    return PhaseSample.from_seconds(blocks)
