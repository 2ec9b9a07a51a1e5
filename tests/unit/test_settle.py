"""CloudWatch is read once the run's last minute is due; each series is settled by its
datapoint of that minute, or, without one, by a read one publishing interval later that
finds it unchanged; all within a bound."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from chaos.metrics.settle import (
    AWS_LAGS,
    CloudWatchLag,
    Reading,
    Settled,
    minute_window,
    read_when_settled,
)
from tests.fake_clock import FakeClock

RUN_END = 1_000_030.0  # 30 s into the minute 1_000_020..080
LAST_MINUTE = 1_000_020
LAST_MINUTE_END = 1_000_080.0
DUE = LAST_MINUTE_END + 60.0  # the lag


#: series id -> minute start -> (value, when CloudWatch first shows it)
Published = Mapping[str, Mapping[int, tuple[float, float]]]


def publishing(clock: FakeClock, published: Published) -> tuple[Callable[[], Reading], list[float]]:
    """Reads of a CloudWatch that shows each datapoint from its time on; and when each read."""
    reads: list[float] = []

    def read() -> Reading:
        reads.append(clock.now)
        return Reading(
            {
                key: {minute: value for minute, (value, at) in points.items() if at <= clock.now}
                for key, points in published.items()
            }
        )

    return read, reads


def settle(clock: FakeClock, read: Callable[[], Reading], timeout_s: float = 300.0) -> Settled:
    return read_when_settled(
        read,
        last_minute_end=LAST_MINUTE_END,
        lag_s=60.0,
        interval_s=60.0,
        last_datapoint=LAST_MINUTE,
        timeout_s=timeout_s,
        poll_s=10.0,
        clock=clock.time,
        sleep=clock.sleep,
    )


def test_nothing_is_read_before_the_lag_and_the_last_minute_settles_a_series_at_once() -> None:
    clock = FakeClock(RUN_END)
    read, reads = publishing(
        clock, {"errors": {LAST_MINUTE - 60: (3.0, DUE - 60), LAST_MINUTE: (7.0, DUE - 20)}}
    )
    outcome = settle(clock, read)
    assert outcome.settled and outcome.figures.series == {
        "errors": {LAST_MINUTE - 60: 3.0, LAST_MINUTE: 7.0}
    }
    assert reads == [DUE]
    assert outcome.reads == 1


def test_a_late_last_minute_is_waited_for_past_two_agreeing_reads() -> None:
    """The rule before settled on two agreeing reads at DUE and DUE + 10 without it."""
    clock = FakeClock(RUN_END)
    read, reads = publishing(
        clock, {"errors": {LAST_MINUTE - 60: (3.0, DUE - 60), LAST_MINUTE: (7.0, DUE + 35)}}
    )
    outcome = settle(clock, read)
    assert outcome.settled
    assert outcome.figures.series["errors"] == {LAST_MINUTE - 60: 3.0, LAST_MINUTE: 7.0}
    assert reads == [DUE, DUE + 10, DUE + 20, DUE + 30, DUE + 40]


def test_a_series_without_its_last_minute_settles_one_interval_later_when_unchanged() -> None:
    """No traffic in the last minute (or none at all): one more publishing interval."""
    clock = FakeClock(RUN_END)
    read, reads = publishing(
        clock, {"errors": {LAST_MINUTE - 60: (3.0, DUE - 60)}, "throttles": {}}
    )
    outcome = settle(clock, read)
    assert outcome.settled
    assert outcome.figures.series == {"errors": {LAST_MINUTE - 60: 3.0}, "throttles": {}}
    assert reads[0] == DUE and reads[-1] == DUE + 60


def test_a_series_still_changing_after_the_interval_waits_for_an_unchanged_read() -> None:
    clock = FakeClock(RUN_END)
    read, reads = publishing(clock, {"errors": {LAST_MINUTE - 60: (3.0, DUE + 55)}})
    outcome = settle(clock, read)
    assert outcome.settled and outcome.figures.series["errors"] == {LAST_MINUTE - 60: 3.0}
    assert reads[-1] == DUE + 70, "DUE + 60 saw it change"


def test_a_later_read_settles_on_two_agreeing_reads() -> None:
    clock = FakeClock(DUE + 600)
    read, reads = publishing(clock, {"errors": {LAST_MINUTE - 60: (3.0, DUE - 60)}})
    outcome = settle(clock, read)
    assert outcome.settled and reads == [DUE + 600, DUE + 610]


def test_past_the_bound_the_figures_are_unsettled_and_name_what_was_pending() -> None:
    clock = FakeClock(RUN_END)
    read, _ = publishing(
        clock,
        {
            "errors": {LAST_MINUTE - 60: (3.0, DUE - 60), LAST_MINUTE: (7.0, DUE - 20)},
            "blocked": {LAST_MINUTE - 60: (9.0, DUE - 60)},
        },
    )
    outcome = settle(clock, read, timeout_s=DUE + 30 - RUN_END)
    assert not outcome.settled and outcome.pending == ("blocked",)
    assert clock.now == DUE + 30


def test_where_a_minute_grows_as_its_seconds_pass_only_an_unchanged_read_settles() -> None:
    """The fast sandbox: datapoints written each second, no lag; the run's end is due."""
    clock = FakeClock(RUN_END)
    read, reads = publishing(
        clock, {"errors": {LAST_MINUTE: (1.0, RUN_END)}, "late": {LAST_MINUTE: (2.0, RUN_END + 1)}}
    )
    fast = CloudWatchLag.from_seconds({"standard": 0.0, "emf": 0.0})
    outcome = read_when_settled(
        read,
        last_minute_end=RUN_END,
        lag_s=fast.standard_s,
        interval_s=fast.interval_s,
        last_datapoint=None,
        timeout_s=30.0,
        poll_s=1.0,
        clock=clock.time,
        sleep=clock.sleep,
    )
    assert outcome.settled and outcome.figures.series["late"] == {LAST_MINUTE: 2.0}
    assert reads == [RUN_END, RUN_END + 1, RUN_END + 2]


def test_a_cloudwatchs_publishing_interval() -> None:
    assert (AWS_LAGS.interval_s, AWS_LAGS.whole_minutes) == (60.0, True)
    fast = CloudWatchLag.from_seconds(None)
    assert (fast.standard_s, fast.interval_s, fast.whole_minutes) == (0.0, 1.0, False)
    scaled = CloudWatchLag.from_seconds({"standard": 6.0, "emf": 12.0})  # AWS's, at a tenth
    assert (scaled.standard_s, scaled.emf_s, scaled.interval_s) == (6.0, 12.0, 6.0)
    assert scaled.whole_minutes


def test_minute_window_covers_whole_minutes() -> None:
    assert minute_window(120.5, 130.0) == (120.0, 180.0)
    assert minute_window(120.0, 240.0) == (120.0, 240.0)
    assert minute_window(150.0, 150.0) == (120.0, 180.0)
