"""CloudWatch as AWS shows it (`aws` realism): one-minute datapoints, visible a minute late."""

from __future__ import annotations

import json
from typing import Any

from chaos.sandbox.cloudwatch.metrics import MetricsRecorder, MetricTiming, moto_timestamp
from chaos.sandbox.realism import Realism

Written = list[tuple[str, list[dict[str, Any]]]]
MINUTE = 6_000  # a minute boundary (epoch seconds)
DIMENSIONS = {"FunctionName": "orders"}


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def aws_recorder(time_scale: float = 1.0) -> tuple[MetricsRecorder, Written, Clock]:
    written: Written = []
    clock = Clock(MINUTE + 5.5)
    timing = MetricTiming.for_realism(Realism(mode="aws", time_scale=time_scale))
    recorder = MetricsRecorder(
        lambda ns, data: written.append((ns, data)), clock=clock, timing=timing
    )
    return recorder, written, clock


def test_fast_realism_keeps_one_second_datapoints_without_lag() -> None:
    assert MetricTiming.for_realism(Realism()) == MetricTiming(period_s=1, lag_s=0, emf_lag_s=0)


def test_a_minute_is_one_datapoint_invisible_until_60_s_after_the_minute_ends() -> None:
    metrics, written, clock = aws_recorder()
    for offset, value in ((5.5, 3.0), (31.0, 1.0), (59.9, 8.0)):
        clock.now = MINUTE + offset
        metrics.add("AWS/Lambda", "Duration", value, DIMENSIONS, "Milliseconds")
    clock.now = MINUTE + 60 + 59.9  # the minute is over, its datapoint not yet ingested
    assert metrics.flush() == 0 and written == []
    status = metrics.status()
    assert status["pending_datapoints"] == 1 and status["period_s"] == 60
    assert status["oldest_pending_period"] == "1970-01-01T01:40:00.000Z"  # MINUTE
    clock.now = MINUTE + 120
    assert metrics.flush() == 1
    [(namespace, [datum])] = written
    assert namespace == "AWS/Lambda"
    assert datum["Timestamp"] == moto_timestamp(MINUTE), "truncated to the minute"
    assert datum["StatisticValues"] == {
        "Sum": 12.0,
        "Minimum": 1.0,
        "Maximum": 8.0,
        "SampleCount": 3.0,
    }
    assert metrics.status()["pending_datapoints"] == 0


def test_the_next_minute_is_its_own_datapoint_and_waits_for_its_own_end() -> None:
    metrics, written, clock = aws_recorder()
    metrics.add("AWS/ApiGateway", "Count", 1, {"ApiName": "orders-api"})
    clock.now = MINUTE + 61
    metrics.add("AWS/ApiGateway", "Count", 1, {"ApiName": "orders-api"})
    clock.now = MINUTE + 120
    assert metrics.flush() == 1
    clock.now = MINUTE + 179.9
    assert metrics.flush() == 0
    clock.now = MINUTE + 180
    assert metrics.flush() == 1
    assert [data[0]["Timestamp"] for _, data in written] == [
        moto_timestamp(MINUTE),
        moto_timestamp(MINUTE + 60),
    ]


def test_emf_metrics_take_120_s_after_their_minute() -> None:
    metrics, written, clock = aws_recorder()
    line = json.dumps(
        {
            "_aws": {
                "Timestamp": (MINUTE + 20) * 1000,
                "CloudWatchMetrics": [
                    {
                        "Namespace": "Chaos",
                        "Dimensions": [["FunctionName", "FaultType"]],
                        "Metrics": [{"Name": "InjectedFaults", "Unit": "Count"}],
                    }
                ],
            },
            "FunctionName": "orders",
            "FaultType": "latency",
            "InjectedFaults": 1,
        }
    )
    assert metrics.record_emf(line) == 1
    metrics.add("AWS/Lambda", "Invocations", 1, DIMENSIONS)
    clock.now = MINUTE + 60 + 119.9
    assert metrics.flush() == 1, "only the service metric is visible yet"
    assert written[0][0] == "AWS/Lambda"
    clock.now = MINUTE + 180
    assert metrics.flush() == 1
    assert written[1][0] == "Chaos" and written[1][1][0]["Timestamp"] == moto_timestamp(MINUTE)


def test_lags_scale_with_the_time_scale_but_the_minute_does_not() -> None:
    metrics, written, clock = aws_recorder(time_scale=0.1)
    metrics.add("AWS/Lambda", "Invocations", 1, DIMENSIONS)
    clock.now = MINUTE + 65.9
    assert metrics.flush() == 0
    clock.now = MINUTE + 66
    assert metrics.flush() == 1
    assert metrics.timing.period_s == 60
