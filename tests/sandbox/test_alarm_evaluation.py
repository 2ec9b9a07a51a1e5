"""The sandbox evaluates metric alarms on the datapoints CloudWatch shows, as CloudWatch
does (moto never does: a stop condition could not fire)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.cloudwatch.models import cloudwatch_backends

from chaos.sandbox.cloudwatch.alarms import evaluate_alarms, evaluation_interval_s
from chaos.sandbox.realism import Realism

REGION = "us-east-1"
ACCOUNT = "123456789012"
DIMENSIONS = [{"Name": "ApiName", "Value": "orders-api"}, {"Name": "Stage", "Value": "prod"}]
NOW = datetime.now(timezone.utc).replace(microsecond=0)


@pytest.fixture
def cloudwatch(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    with mock_aws():
        yield boto3.client("cloudwatch", region_name=REGION)


def alarm(cloudwatch: Any, **overrides: Any) -> None:
    settings: dict[str, Any] = {
        "AlarmName": "orders-5xx-high",
        "Namespace": "AWS/ApiGateway",
        "MetricName": "5XXError",
        "Dimensions": DIMENSIONS,
        "Statistic": "Sum",
        "Period": 60,
        "EvaluationPeriods": 1,
        "Threshold": 50,
        "ComparisonOperator": "GreaterThanThreshold",
    }
    merged = {**settings, **overrides}
    cloudwatch.put_metric_alarm(
        **{key: value for key, value in merged.items() if value is not None}
    )


def errors(
    cloudwatch: Any, count: int, seconds_ago: float, dimensions: list[dict[str, str]] = DIMENSIONS
) -> None:
    cloudwatch.put_metric_data(
        Namespace="AWS/ApiGateway",
        MetricData=[
            {
                "MetricName": "5XXError",
                "Dimensions": dimensions,
                "Value": 1.0,
                "Timestamp": NOW - timedelta(seconds=seconds_ago),
            }
            for _ in range(count)
        ],
    )


def state(cloudwatch: Any, name: str = "orders-5xx-high") -> str:
    return str(cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"])


def evaluate(at: datetime = NOW) -> dict[str, str]:
    return evaluate_alarms(cloudwatch_backends[ACCOUNT][REGION], at)


def test_errors_over_the_threshold_in_the_last_period_set_alarm_then_ok(cloudwatch: Any) -> None:
    alarm(cloudwatch)
    errors(cloudwatch, 51, seconds_ago=30)
    assert evaluate() == {"orders-5xx-high": "ALARM"}
    assert state(cloudwatch) == "ALARM"
    assert evaluate() == {}  # no change, no new state update
    reason = cloudwatch.describe_alarms()["MetricAlarms"][0]["StateReason"]
    assert "51.0" in reason and "(50)" in reason
    # Three periods later the datapoint is out of the evaluation range: no data at all.
    assert evaluate(NOW + timedelta(seconds=200)) == {"orders-5xx-high": "INSUFFICIENT_DATA"}


def test_at_the_threshold_or_on_other_dimensions_it_stays_ok(cloudwatch: Any) -> None:
    alarm(cloudwatch)
    errors(cloudwatch, 50, seconds_ago=10)
    errors(cloudwatch, 100, seconds_ago=10, dimensions=DIMENSIONS[:1])  # another series
    assert evaluate() == {}  # OK already (moto's initial state)
    cloudwatch.set_alarm_state(AlarmName="orders-5xx-high", StateValue="ALARM", StateReason="test")
    # SetAlarmState lasts until the next evaluation, as on CloudWatch.
    assert evaluate() == {"orders-5xx-high": "OK"}


def test_m_of_n_counts_the_most_recent_datapoints_of_the_range(cloudwatch: Any) -> None:
    alarm(cloudwatch, EvaluationPeriods=3, DatapointsToAlarm=2)
    errors(cloudwatch, 60, seconds_ago=150)  # breaching, two periods back
    errors(cloudwatch, 10, seconds_ago=90)
    assert evaluate() == {}  # 1 of 2 datapoints so far (the last period has none)
    errors(cloudwatch, 70, seconds_ago=20)
    assert evaluate() == {"orders-5xx-high": "ALARM"}


@pytest.mark.parametrize(
    ("treat", "expected"),
    [
        ("missing", {"orders-5xx-high": "INSUFFICIENT_DATA"}),
        ("ignore", {}),
        ("notBreaching", {}),
        ("breaching", {"orders-5xx-high": "ALARM"}),
    ],
)
def test_no_data_is_treated_as_the_alarm_says(
    cloudwatch: Any, treat: str, expected: dict[str, str]
) -> None:
    alarm(cloudwatch, TreatMissingData=treat)
    assert evaluate() == expected


def test_alarms_the_sandbox_cannot_evaluate_keep_their_state(cloudwatch: Any) -> None:
    alarm(cloudwatch, AlarmName="p99", Statistic=None, ExtendedStatistic="p99")
    alarm(
        cloudwatch,
        AlarmName="math",
        Namespace=None,
        MetricName=None,
        Dimensions=None,
        Statistic=None,
        Period=None,
        Metrics=[
            {"Id": "e1", "Expression": "m1 * 2", "ReturnData": True},
            {
                "Id": "m1",
                "ReturnData": False,
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/ApiGateway",
                        "MetricName": "5XXError",
                        "Dimensions": DIMENSIONS,
                    },
                    "Period": 60,
                    "Stat": "Sum",
                },
            },
        ],
    )
    errors(cloudwatch, 500, seconds_ago=10)
    assert evaluate() == {}
    assert state(cloudwatch, "p99") == state(cloudwatch, "math") == "OK"


def test_aws_realism_evaluates_every_minute_scaled_and_fast_every_5_s() -> None:
    assert evaluation_interval_s(Realism("aws", time_scale=1.0)) == 60.0
    assert evaluation_interval_s(Realism("aws", time_scale=0.1)) == pytest.approx(6.0)
    assert evaluation_interval_s(Realism()) == 5.0
