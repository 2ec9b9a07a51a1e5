"""Synthetic per-second data with known truth for the verdict tests (no production code)."""

from __future__ import annotations

from collections import Counter

import numpy as np

from chaos.verdict.sample import PhaseSample, SecondBlock


def sample_of(
    latencies_per_second: list[list[float]], failures_per_second: list[int] | None = None
) -> PhaseSample:
    failures = failures_per_second or [0] * len(latencies_per_second)
    return PhaseSample.from_seconds(
        SecondBlock(len(values), fail, Counter(float(value) for value in values))
        for values, fail in zip(latencies_per_second, failures, strict=True)
    )


def clustered_latencies(
    rng: np.random.Generator,
    seconds: int,
    per_second: int,
    between: float = 0.5,
    within: float = 0.5,
) -> list[list[float]]:
    """Lognormal latencies (median 20 ms) whose seconds share a random slowness factor
    exp(N(0, between)): requests of one second are correlated. Whole milliseconds."""
    slowness = rng.normal(0.0, between, size=(seconds, 1))
    values = np.exp(np.log(20.0) + slowness + rng.normal(0.0, within, size=(seconds, per_second)))
    return np.maximum(1, np.rint(values)).tolist()


def true_quantile(percent: float, between: float = 0.5, within: float = 0.5) -> float:
    """The same model's quantile, from a million independent draws (whole milliseconds)."""
    rng = np.random.default_rng(12345)
    draws = np.maximum(
        1,
        np.rint(
            np.exp(
                np.log(20.0) + rng.normal(0, between, 1_000_000) + rng.normal(0, within, 1_000_000)
            )
        ),
    )
    return float(np.quantile(draws, percent / 100))


def clustered_failures(
    rng: np.random.Generator, seconds: int, per_second: int, rate: float, correlation: float
) -> list[int]:
    """Failures per second: each second's failure probability ~ Beta with mean `rate` and
    intra-second correlation `correlation` (beta-binomial)."""
    total = 1 / correlation - 1
    probabilities = rng.beta(rate * total, (1 - rate) * total, size=seconds)
    return rng.binomial(per_second, probabilities).tolist()
