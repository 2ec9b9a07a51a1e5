"""PhaseSample: its percentiles are HdrHistogram's, its records round-trip."""

from __future__ import annotations

import numpy as np
import pytest

from chaos.metrics.histogram import LatencyHistogram
from chaos.verdict.sample import (
    PhaseSample,
    SecondBlock,
    sample_from_record,
    sample_to_record,
)


def histograms(rng: np.random.Generator, seconds: int) -> list[LatencyHistogram]:
    result = []
    for _ in range(seconds):
        histogram = LatencyHistogram()
        for value in rng.lognormal(3.0, 1.2, size=rng.integers(0, 25)):
            histogram.record(float(value))
        result.append(histogram)
    return result


@pytest.mark.parametrize("seed", range(5))
def test_percentiles_equal_the_merged_hdr_histogram(seed: int) -> None:
    rng = np.random.default_rng(seed)
    per_second = histograms(rng, 40)
    merged = LatencyHistogram()
    for histogram in per_second:
        merged.merge(histogram)
    sample = PhaseSample.from_histograms((h.count, 0, h) for h in per_second)
    assert sample.total_latencies == merged.count
    for percent in (1, 50, 90, 95, 99, 99.9, 100):
        assert sample.percentile(percent) == merged.percentile(percent), percent
    assert sample.max_ms == merged.max_ms


def test_pooled_runs_keep_every_second_and_merge_like_histograms() -> None:
    rng = np.random.default_rng(7)
    first, second = histograms(rng, 10), histograms(rng, 12)
    merged = LatencyHistogram()
    for histogram in first + second:
        merged.merge(histogram)
    pooled = PhaseSample.pooled(
        [
            PhaseSample.from_histograms((h.count, 0, h) for h in first),
            PhaseSample.from_histograms((h.count, 0, h) for h in second),
        ]
    )
    assert pooled.seconds == 22
    assert pooled.percentile(99) == merged.percentile(99)
    assert pooled.percentile(50) == merged.percentile(50)


def test_a_record_round_trips() -> None:
    sample = PhaseSample.from_seconds(
        [SecondBlock(3, 1, {7.0: 2, 1151.0: 1}), SecondBlock(0, 0, {}), SecondBlock(2, 0, {9.0: 2})]
    )
    record = sample_to_record(sample)
    assert record == [[3, 1, "7:2,1151:1"], [0, 0, ""], [2, 0, "9:2"]]
    again = sample_from_record(record)
    assert again.requests.tolist() == [3, 0, 2] and again.failures.tolist() == [1, 0, 0]
    assert again.latency_values.tolist() == [7.0, 9.0, 1151.0]
    assert again.latency_counts.tolist() == [[2, 0, 1], [0, 0, 0], [0, 2, 0]]


def test_malformed_input_is_refused() -> None:
    with pytest.raises(ValueError):
        PhaseSample.from_seconds([SecondBlock(1, 2, {5.0: 1})])  # more failures than requests
    with pytest.raises(ValueError):
        sample_from_record([[1, 0]])
    with pytest.raises(ValueError):
        PhaseSample.from_seconds([SecondBlock(1, 0, {0.0: 1})])  # not a latency HDR records


def test_counts_above_a_threshold_per_second() -> None:
    sample = PhaseSample.from_seconds(
        [SecondBlock(3, 0, {10.0: 2, 30.0: 1}), SecondBlock(2, 0, {20.0: 1, 40.0: 1})]
    )
    assert sample.above_per_second(20.0).tolist() == [1, 1]
    assert sample.at_or_above_per_second(20.0).tolist() == [1, 2]
    assert sample.value_at_rank(3) == 20.0
