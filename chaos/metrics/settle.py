"""Reading CloudWatch once it has settled, never before.

Lambda, API Gateway and WAF publish their metrics once a minute: "Lambda sends metric data
to CloudWatch in 1-minute intervals" (https://docs.aws.amazon.com/lambda/latest/dg/
monitoring-metrics.html), "API Gateway metric data is automatically sent to CloudWatch in
one-minute periods" (https://docs.aws.amazon.com/apigateway/latest/developerguide/
monitoring-cloudwatch.html), "AWS WAF reports metrics once a minute" (https://
docs.aws.amazon.com/waf/latest/developerguide/waf-metrics.html). Embedded Metric Format
metrics (the extension's `Chaos` namespace) come later still: their "generation depends on
your log publishing flow because CloudWatch Logs needs to process logs so they can be
transformed into metrics" (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/
CloudWatch_Embedded_Metric_Format_Alarms.html). A read right after the run sees partial
minutes: a count SLO would pass on missing data.

None of these pages puts a number on the delay. The lags below are therefore our margins:
one whole publishing interval after a minute ends (60 s), two for EMF (120 s, log
processing first). Nothing is read before the run's last minute (the one holding the
recovery's end) ended the lag ago. From then on each series (one metric of one function,
API stage or rule) is settled by itself:

- once CloudWatch returns its datapoint of the run's last minute: a minute is published
  whole once it is over, so the minutes before it are in too;
- without one (no traffic that minute, or a datapoint later than our margin), once a read
  made one more publishing interval (60 s) past the lag finds it unchanged from the read
  before: a late last minute arrives in that interval, and a series that stays empty or
  unchanged has nothing more coming.

A late datapoint is therefore waited for, where two agreeing reads (the rule before)
settled on the reads around it. Everything is bounded by `timeout_s` (default 5 minutes);
past it the figures are kept but marked `settled: false`, and SLO checks on them fail as
not settled. `gameday report --refresh` reads them again by the same rule.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

__all__ = [
    "AWS_LAGS",
    "SETTLE_ENV",
    "CloudWatchLag",
    "Reading",
    "Settled",
    "minute_window",
    "read_when_settled",
]

#: Test-only switch: GAMEDAY_SETTLE=off reads CloudWatch at once (to show what that costs).
SETTLE_ENV = "GAMEDAY_SETTLE"
MINUTE_S = 60.0
#: The fast sandbox's CloudWatch shows each second's datapoint once a flush (1 s) wrote it
#: (chaos.sandbox.cloudwatch.metrics, `fast` realism).
FAST_INTERVAL_S = 1.0


@dataclass(frozen=True)
class CloudWatchLag:
    """How long after a minute ends its datapoints are visible (standard, EMF), and how a
    CloudWatch publishes: every `interval_s`, each minute whole once it is over or not."""

    standard_s: float = 60.0
    emf_s: float = 120.0
    interval_s: float = MINUTE_S
    # False: datapoints are written as their seconds pass (the fast sandbox), so a minute's
    # datapoint can be there and still grow: only an unchanged read settles a series.
    whole_minutes: bool = True

    @classmethod
    def from_seconds(cls, lag_s: Mapping[str, float] | None) -> CloudWatchLag:
        """A CloudWatch's lags as the sandbox states them (`{"standard": s, "emf": s}`);
        none stated: no lag (the fast sandbox, one-second datapoints). The sandbox's lag is
        AWS's one interval, scaled as its other delays: its interval is the same."""
        lag_s = lag_s or {}
        standard, emf = float(lag_s.get("standard", 0.0)), float(lag_s.get("emf", 0.0))
        if standard <= 0 and emf <= 0:
            return cls(0.0, 0.0, FAST_INTERVAL_S, whole_minutes=False)
        return cls(standard, emf, float(lag_s.get("interval", standard or emf)))


AWS_LAGS = CloudWatchLag()


@dataclass(frozen=True)
class Reading:
    """One read of every series: series id -> {datapoint start (epoch s): value}."""

    series: dict[str, dict[int, float]]
    period_s: int = int(MINUTE_S)
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Settled:
    figures: Reading
    settled: bool
    waited_s: float
    reads: int
    pending: tuple[str, ...] = field(default=())  # the series not settled (when not)


def minute_window(start_epoch_s: float, end_epoch_s: float) -> tuple[float, float]:
    """The whole minutes that cover ``[start, end)`` (CloudWatch's resolution)."""
    start = math.floor(start_epoch_s / MINUTE_S) * MINUTE_S
    end = math.ceil(end_epoch_s / MINUTE_S) * MINUTE_S
    return start, max(end, start + MINUTE_S)


@dataclass(frozen=True)
class _Rule:
    last_datapoint: int | None  # None: a datapoint present proves nothing (see whole_minutes)
    quiet_from: float  # a read from then on, unchanged from the one before, settles a series

    def pending(self, current: Reading, previous: Reading | None, read_at: float) -> list[str]:
        return [
            key
            for key, points in current.series.items()
            if not self._settled(points, previous, key, read_at)
        ]

    def _settled(
        self, points: Mapping[int, float], previous: Reading | None, key: str, read_at: float
    ) -> bool:
        if self.last_datapoint is not None and self.last_datapoint in points:
            return True
        return (
            read_at >= self.quiet_from
            and previous is not None
            and previous.series.get(key) == points
        )


def read_when_settled(
    read: Callable[[], Reading],
    *,
    last_minute_end: float,
    lag_s: float,
    timeout_s: float,
    interval_s: float = MINUTE_S,
    last_datapoint: int | None = None,
    poll_s: float = 10.0,
    on_wait: Callable[[str], None] | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    given_up: Callable[[], bool] = lambda: False,
) -> Settled:
    """`read()` once every series has settled (see the module docstring), bounded.

    `last_minute_end`: when the run's last minute ends (its datapoint is due `lag_s` later);
    `last_datapoint`: that datapoint's timestamp, None when a CloudWatch's datapoints grow
    within their minute. `given_up()` true (the user interrupted the wait): read once more
    and return the figures as not settled, as at the deadline."""
    started = clock()
    deadline = started + timeout_s
    if os.environ.get(SETTLE_ENV) == "off":
        reading = read()
        return Settled(reading, False, 0.0, 1, tuple(reading.series))
    due = last_minute_end + lag_s
    rule = _Rule(last_datapoint, due + interval_s)
    if clock() < due:
        if on_wait is not None:
            on_wait(
                f"waiting for CloudWatch to settle: the run's last minute is due "
                f"{max(0.0, due - clock()):.0f}s from now, series without it "
                f"{interval_s:.0f}s later (bound {timeout_s:.0f}s)"
            )
        sleep(max(0.0, min(due, deadline) - clock()))
    previous: Reading | None = None
    for reads in range(1, 10_001):  # bounded by the deadline long before
        read_at = clock()
        current = read()
        pending = rule.pending(current, previous, read_at)
        if not pending:
            return Settled(current, True, clock() - started, reads)
        if clock() >= deadline or given_up():
            return Settled(current, False, clock() - started, reads, tuple(pending))
        sleep(max(0.0, min(poll_s, deadline - clock())))
        previous = current
    return Settled(current, False, clock() - started, reads, tuple(pending))
