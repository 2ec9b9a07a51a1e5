"""CloudWatch is read once its minutes are due and two reads agree, within a bound."""

from __future__ import annotations

from typing import Any

from chaos.metrics.settle import minute_window, read_when_settled


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def counting_reads(clock: FakeClock, complete_at: float) -> Any:
    """Each read sees the datapoints ingested so far: complete from `complete_at` on."""
    reads: list[float] = []

    def read() -> dict[str, Any]:
        reads.append(clock.now)
        return {"errors": 10.0 if clock.now >= complete_at else 10.0 * (clock.now % 7) / 7}

    return read, reads


def test_waits_for_the_lag_then_for_two_agreeing_reads() -> None:
    clock = FakeClock(1_000_030.0)  # the run ended 30 s into minute 1_000_020..080
    read, reads = counting_reads(clock, complete_at=1_000_140.0)
    outcome = read_when_settled(
        read,
        last_minute_end=1_000_080.0,
        lag_s=60.0,
        timeout_s=300.0,
        poll_s=10.0,
        clock=clock.time,
        sleep=clock.sleep,
    )
    assert outcome.settled and outcome.figures == {"errors": 10.0}
    assert reads[0] >= 1_000_140.0  # nothing read before the last minute + lag
    assert outcome.reads == 2


def test_past_the_bound_the_figures_are_unsettled() -> None:
    clock = FakeClock(1_000_000.0)
    read, _ = counting_reads(clock, complete_at=float("inf"))
    outcome = read_when_settled(
        read,
        last_minute_end=1_000_060.0,
        lag_s=120.0,
        timeout_s=5.0,
        poll_s=1.0,
        clock=clock.time,
        sleep=clock.sleep,
    )
    assert not outcome.settled
    assert clock.now - 1_000_000.0 <= 5.0 + 1e-9


def test_minute_window_covers_whole_minutes() -> None:
    assert minute_window(120.5, 130.0) == (120.0, 180.0)
    assert minute_window(120.0, 240.0) == (120.0, 240.0)
    assert minute_window(150.0, 150.0) == (120.0, 180.0)
