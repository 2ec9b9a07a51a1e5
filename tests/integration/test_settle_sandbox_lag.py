"""The reader against the sandbox's model of CloudWatch publishing (one-minute datapoints,
each visible a lag after its minute ends) in moto's CloudWatch, on a fake clock: a
CloudWatch 30 s slower than our margin still has its last minute counted, and the 5xx of
the fault are split between the phases by share."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chaos.metrics.cloudwatch import ServerSideTargets
from chaos.metrics.server_side import ServerSideQuery, read_server_side
from chaos.metrics.settle import AWS_LAGS
from chaos.sandbox.cloudwatch.metrics import MetricsRecorder, MetricTiming
from tests.fake_clock import FakeClock

REGION = "us-east-1"
API = {"ApiName": "orders-api", "Stage": "prod"}
TARGETS = ServerSideTargets(
    region=REGION, function_names=("orders",), api_name="orders-api", stage="prod"
)


@pytest.fixture
def cloudwatch(fake_aws_credentials: None) -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("cloudwatch", region_name=REGION)


def test_a_cloudwatch_slower_than_the_margin_is_waited_for(cloudwatch: Any) -> None:
    minute = int(time.time()) // 60 * 60 - 600
    clock = FakeClock(minute + 10.0)
    # datapoints visible 90 s after their minute: 30 s later than the 60 s we allow
    slow = MetricTiming(period_s=60, lag_s=90.0, emf_lag_s=150.0)
    metrics = MetricsRecorder(
        lambda namespace, data: cloudwatch.put_metric_data(Namespace=namespace, MetricData=data),
        clock=clock,
        timing=slow,
    )
    windows = {
        "baseline": (minute + 10.0, minute + 40.0),
        "fault": (minute + 40.0, minute + 100.0),
        "recovery": (minute + 100.0, minute + 110.0),
    }
    for at, errors in ((minute + 45, 3), (minute + 70, 4), (minute + 95, 2)):
        for _ in range(errors):
            metrics.add("AWS/ApiGateway", "5XXError", 1.0, API, at=at)
    for at in range(int(minute + 10), int(minute + 110), 5):
        metrics.add("AWS/Lambda", "Errors", 0.0, {"FunctionName": "orders"}, at=at)
    clock.now = minute + 110.0  # the run ends

    def sleep(seconds: float) -> None:
        clock.now += seconds
        metrics.flush()

    figures = read_server_side(
        cloudwatch, ServerSideQuery(TARGETS, windows), AWS_LAGS, clock=clock, sleep=sleep
    )

    assert figures["settled"] is True
    assert figures["run"]["apigw_5xx"] == pytest.approx(9.0), "the last minute (6) too"
    assert clock.now >= minute + 120 + 90, "read once the late minute was published"
    # minute 1: the run's 50 s are 30 s baseline, 20 s fault; minute 2: 40 s fault, 10 s
    # recovery. 3 and 6 errors: the fault takes 0.4 * 3 + 0.8 * 6.
    phases = figures["phases"]
    assert phases["baseline"]["apigw_5xx"] == pytest.approx(1.8)
    assert phases["fault"]["apigw_5xx"] == pytest.approx(6.0)
    assert phases["recovery"]["apigw_5xx"] == pytest.approx(1.2)
    assert phases["fault"]["lambda_errors"] == 0.0
