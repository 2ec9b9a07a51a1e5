"""Server-side figures through the one reader (read_server_side), against a CloudWatch that
holds one datapoint a minute and shows each when it chooses: a late last minute is waited
for, and a minute that straddles a phase boundary is split by share, not given whole to
every phase it touches."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import pytest

from chaos.clock import iso_from_epoch
from chaos.metrics.cloudwatch import ServerSideTargets
from chaos.metrics.server_side import ServerSideQuery, read_server_side
from chaos.metrics.settle import AWS_LAGS
from tests.fake_clock import FakeClock

T0 = 1_700_000_040  # on a minute
TARGETS = ServerSideTargets(
    region="eu-west-1", function_names=("orders",), api_name="orders-api", stage="prod"
)


#: metric name -> minute start -> (value, when CloudWatch first shows it)
Minutes = Mapping[str, Mapping[int, tuple[float, float]]]


class MinuteCloudWatch:
    """GetMetricData over per-minute datapoints: each query's Period buckets the visible
    minutes from StartTime, newest first, as CloudWatch answers by default."""

    def __init__(self, clock: FakeClock, minutes: Minutes) -> None:
        self.clock, self.minutes = clock, minutes
        self.reads: list[float] = []

    def get_metric_data(
        self,
        MetricDataQueries: list[dict[str, Any]],  # noqa: N803
        StartTime: datetime,  # noqa: N803
        EndTime: datetime,  # noqa: N803
        **_: Any,
    ) -> dict[str, Any]:
        self.reads.append(self.clock.now)
        start, end = StartTime.timestamp(), EndTime.timestamp()
        results = []
        for query in MetricDataQueries:
            stat = query["MetricStat"]
            period = int(stat["Period"])
            buckets: dict[float, float] = {}
            for minute, (value, visible_at) in self.minutes.get(
                stat["Metric"]["MetricName"], {}
            ).items():
                if start <= minute < end and visible_at <= self.clock.now:
                    bucket = start + (minute - start) // period * period
                    buckets[bucket] = buckets.get(bucket, 0.0) + value
            stamps = sorted(buckets, reverse=True)
            results.append(
                {
                    "Id": query["Id"],
                    "Timestamps": [datetime.fromtimestamp(at, timezone.utc) for at in stamps],
                    "Values": [buckets[at] for at in stamps],
                }
            )
        return {"MetricDataResults": results}


def read_on_aws(cloudwatch: MinuteCloudWatch, windows: dict[str, tuple[float, float]]) -> Any:
    """The server-side figures as a run on AWS reads them, on the fake CloudWatch's clock."""
    clock = cloudwatch.clock
    return read_server_side(
        cloudwatch,
        ServerSideQuery(TARGETS, windows),
        AWS_LAGS,
        clock=clock.time,
        sleep=clock.sleep,
    )


def test_a_last_minute_published_after_two_agreeing_reads_is_still_counted() -> None:
    """API Gateway's last minute arrives 90 s after it ends, 30 s past the margin: two reads
    10 s apart agree before it does. The reader waits for that minute of a series that had
    data, and counts it."""
    windows = {
        "baseline": (T0 + 10.0, T0 + 40.0),
        "fault": (T0 + 40.0, T0 + 80.0),
        "recovery": (T0 + 80.0, T0 + 110.0),
    }
    last_minute_end = T0 + 120
    clock = FakeClock(T0 + 110.0)  # the run has just ended
    cloudwatch = MinuteCloudWatch(
        clock,
        {
            "5XXError": {
                T0: (4.0, T0 + 60 + 60),
                T0 + 60: (6.0, last_minute_end + 90),  # late
            }
        },
    )
    figures = read_on_aws(cloudwatch, windows)
    assert figures["settled"] is True
    assert figures["run"]["apigw_5xx"] == pytest.approx(10.0)
    assert min(cloudwatch.reads) >= last_minute_end + AWS_LAGS.standard_s
    # series without a datapoint in the last minute: one more publishing interval
    assert clock.now >= last_minute_end + AWS_LAGS.standard_s + AWS_LAGS.interval_s


def test_fault_5xx_in_a_minute_that_straddles_a_boundary_are_split_by_share() -> None:
    """The fault runs from 1:30 to 2:30 and every 5xx is its (30 in each of its minutes).
    Whole minutes gave the baseline and the recovery 30 each, and the fault 60: each minute
    is now split by the share each phase covers."""
    windows = {
        "baseline": (float(T0), T0 + 90.0),
        "fault": (T0 + 90.0, T0 + 150.0),
        "recovery": (T0 + 150.0, T0 + 240.0),
    }
    clock = FakeClock(T0 + 3600.0)  # long settled
    cloudwatch = MinuteCloudWatch(
        clock, {"5XXError": {T0 + 60: (30.0, T0 + 180), T0 + 120: (30.0, T0 + 240)}}
    )
    figures = read_on_aws(cloudwatch, windows)
    phases = figures["phases"]
    assert phases["baseline"]["apigw_5xx"] == pytest.approx(15.0)
    assert phases["fault"]["apigw_5xx"] == pytest.approx(30.0)
    assert phases["recovery"]["apigw_5xx"] == pytest.approx(15.0)
    assert figures["run"]["apigw_5xx"] == pytest.approx(60.0)
    straddling = [
        {
            "from": iso_from_epoch(T0 + 60),
            "to": iso_from_epoch(T0 + 120),
            "shares": {"baseline": 0.5, "fault": 0.5},
        },
        {
            "from": iso_from_epoch(T0 + 120),
            "to": iso_from_epoch(T0 + 180),
            "shares": {"fault": 0.5, "recovery": 0.5},
        },
    ]
    assert figures["run"]["attribution"] == "per-minute share"
    assert figures["run"]["boundary_minutes"] == straddling
    assert phases["fault"]["attribution"] == "per-minute share"
    assert phases["fault"]["boundary_minutes"] == straddling
    assert phases["baseline"]["boundary_minutes"] == straddling[:1]
