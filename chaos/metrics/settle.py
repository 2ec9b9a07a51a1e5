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
processing first); the second condition catches a CloudWatch slower than that. The
server-side figures are read when (1) the last minute they cover ended at least the lag
ago, and (2) two successive reads agree. Both are bounded by `timeout_s` (default 5
minutes); past it the figures are kept but marked `settled: false`, and SLO checks on them
fail as not settled. `gameday report --refresh` reads them again by the same rule.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "AWS_LAGS",
    "SETTLE_ENV",
    "CloudWatchLag",
    "Settled",
    "minute_window",
    "read_when_settled",
]

#: Test-only switch: GAMEDAY_SETTLE=off reads CloudWatch at once (to show what that costs).
SETTLE_ENV = "GAMEDAY_SETTLE"
MINUTE_S = 60.0


@dataclass(frozen=True)
class CloudWatchLag:
    """How long after a minute ends its datapoints are visible (standard, EMF)."""

    standard_s: float = 60.0
    emf_s: float = 120.0

    @classmethod
    def from_seconds(cls, lag_s: Mapping[str, float] | None) -> CloudWatchLag:
        """A CloudWatch's lags as the sandbox states them (`{"standard": s, "emf": s}`);
        none stated: no lag (the fast sandbox)."""
        lag_s = lag_s or {}
        return cls(float(lag_s.get("standard", 0.0)), float(lag_s.get("emf", 0.0)))


AWS_LAGS = CloudWatchLag()


@dataclass(frozen=True)
class Settled:
    figures: dict[str, Any]
    settled: bool
    waited_s: float
    reads: int


def minute_window(start_epoch_s: float, end_epoch_s: float) -> tuple[float, float]:
    """The whole minutes that cover ``[start, end)`` (CloudWatch's resolution)."""
    start = math.floor(start_epoch_s / MINUTE_S) * MINUTE_S
    end = math.ceil(end_epoch_s / MINUTE_S) * MINUTE_S
    return start, max(end, start + MINUTE_S)


def read_when_settled(
    read: Callable[[], dict[str, Any]],
    *,
    last_minute_end: float,
    lag_s: float,
    timeout_s: float,
    poll_s: float = 10.0,
    on_wait: Callable[[str], None] | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    given_up: Callable[[], bool] = lambda: False,
) -> Settled:
    """`read()` once the minutes are due and two successive reads agree (bounded).

    `given_up()` true (the user interrupted the wait): read once more and return the figures
    as not settled, as at the deadline."""
    started = clock()
    deadline = started + timeout_s
    if os.environ.get(SETTLE_ENV) == "off":
        return Settled(read(), False, 0.0, 1)
    due = last_minute_end + lag_s
    if clock() < due:
        if on_wait is not None:
            on_wait(
                f"waiting for CloudWatch to settle: datapoints due "
                f"{max(0.0, due - clock()):.0f}s from now (bound {timeout_s:.0f}s)"
            )
        sleep(max(0.0, min(due, deadline) - clock()))
    previous = read()
    reads = 1
    for _ in range(10_000):  # bounded by the deadline long before
        if clock() >= deadline or given_up():
            return Settled(previous, False, clock() - started, reads)
        sleep(max(0.0, min(poll_s, deadline - clock())))
        current = read()
        reads += 1
        if current == previous and clock() >= due:
            return Settled(current, True, clock() - started, reads)
        previous = current
    return Settled(previous, False, clock() - started, reads)
