"""Recovery time relative to the baseline, on phases built by hand."""

from __future__ import annotations

from chaos.verdict.recovery import recovery_band, recovery_time_s
from tests.unit.verdict_data import sample_of

BASELINE = sample_of([[8.0, 9.0, 10.0, 11.0, 12.0, 14.0, 9.0, 10.0] for _ in range(15)])
FAST = [9.0, 10.0, 11.0, 10.0, 12.0, 9.0, 10.0, 13.0]
SLOW = [300.0, 310.0, 305.0, 320.0, 290.0, 301.0, 299.0, 315.0]


def test_back_after_the_slow_seconds() -> None:
    recovery = sample_of([SLOW, SLOW, SLOW] + [FAST] * 12)
    assert recovery_time_s(recovery, BASELINE, 0.95) == 3.0


def test_failing_seconds_are_out_of_band_even_when_fast() -> None:
    # the baseline never failed; 4 failures out of 8 in one second cannot be its noise
    recovery = sample_of([FAST] * 15, [4, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    assert recovery_time_s(recovery, BASELINE, 0.95) == 2.0


def test_one_cold_start_in_a_second_does_not_break_the_streak() -> None:
    one_slow = [9.0, 10.0, 11.0, 10.0, 12.0, 9.0, 10.0, 450.0]
    recovery = sample_of([SLOW] + [FAST, one_slow, FAST, FAST, FAST] + [FAST] * 5)
    assert recovery_time_s(recovery, BASELINE, 0.95) == 1.0


def test_empty_seconds_neither_count_nor_break() -> None:
    recovery = sample_of([SLOW, [], FAST, [], FAST, FAST, FAST, FAST])
    assert recovery_time_s(recovery, BASELINE, 0.95) == 2.0


def test_never_back() -> None:
    recovery = sample_of([SLOW, FAST, FAST, SLOW, FAST, FAST, FAST, FAST])
    assert recovery_time_s(recovery, BASELINE, 0.95) is None
    assert recovery_time_s(recovery, sample_of([[], []]), 0.95) is None


def test_the_band() -> None:
    band = recovery_band(BASELINE, 0.95)
    # no failure in 120 requests: the upper bound is above 1 - 0.05**(1/120) = 2.5 % (the
    # effective size is smaller than 120) and the median bound is the baseline's p95 bound
    assert band.failure_share > 0.0246 and 12.0 <= band.median_ms <= 14.0
