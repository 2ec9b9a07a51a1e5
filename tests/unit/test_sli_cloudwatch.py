"""Server-side SLIs on moto: put_metric_data, then read_server_side's one batched
get_metric_data per read, attributed to the phases."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chaos.metrics.cloudwatch import ServerSideTargets, build_queries
from chaos.metrics.server_side import ServerSideQuery, read_server_side
from chaos.metrics.settle import AWS_LAGS

REGION = "us-east-1"


@pytest.fixture
def cloudwatch(fake_aws_credentials: None) -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("cloudwatch", region_name=REGION)


def put(
    cloudwatch: Any, namespace: str, name: str, dims: dict[str, str], at: float, value: float
) -> None:
    cloudwatch.put_metric_data(
        Namespace=namespace,
        MetricData=[
            {
                "MetricName": name,
                "Value": value,
                "Unit": "Count",
                "Timestamp": datetime.fromtimestamp(at, timezone.utc),
                "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
            }
        ],
    )


TARGETS = ServerSideTargets(
    region=REGION,
    function_names=("arn:aws:lambda:us-east-1:123456789012:function:orders",),
    api_name="orders-api",
    stage="prod",
    web_acl="orders-acl",
    rules=("orders-rate-limit",),
    percentiles=False,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = time.time()

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def read(cloudwatch: Any, windows: dict[str, tuple[float, float]]) -> dict[str, Any]:
    clock = FakeClock()
    return read_server_side(
        cloudwatch,
        ServerSideQuery(TARGETS, windows),
        AWS_LAGS,
        clock=clock.time,
        sleep=clock.sleep,
    )


def test_per_phase_sums_and_absent_metrics(cloudwatch: Any) -> None:
    start = float(int(time.time()) // 60 * 60 - 600)  # phases of whole minutes
    windows = {"baseline": (start, start + 120), "fault": (start + 120, start + 240)}
    orders = {"FunctionName": "orders"}
    put(cloudwatch, "AWS/Lambda", "Errors", orders, start + 10, 0)
    put(cloudwatch, "AWS/Lambda", "Errors", orders, start + 130, 4)
    put(cloudwatch, "AWS/Lambda", "Errors", orders, start + 200, 3)
    put(
        cloudwatch,
        "AWS/ApiGateway",
        "5XXError",
        {"ApiName": "orders-api", "Stage": "prod"},
        start + 150,
        6,
    )
    put(
        cloudwatch,
        "AWS/WAFV2",
        "BlockedRequests",
        {"WebACL": "orders-acl", "Rule": "orders-rate-limit", "Region": REGION},
        start + 20,
        9,
    )
    put(
        cloudwatch,
        "Chaos",
        "InjectedFaults",
        {"FunctionName": "orders", "FaultType": "error"},
        start + 125,
        5,
    )
    calls: list[int] = []
    cloudwatch.meta.events.register(
        "before-call.cloudwatch.GetMetricData", lambda **_: calls.append(1)
    )

    figures = read(cloudwatch, windows)

    # one batched call per read: a second read finds the metrics without a datapoint in
    # the run's last minute unchanged
    assert len(calls) == 2 and figures["settled"] is True
    baseline, fault = figures["phases"]["baseline"], figures["phases"]["fault"]
    assert baseline["lambda_errors"] == 0.0  # a zero datapoint is zero...
    assert baseline["apigw_5xx"] is None  # ...no datapoint is absent
    assert baseline["waf_blocked_requests"] == 9.0 and fault["waf_blocked_requests"] is None
    assert fault["lambda_errors"] == 7.0 and fault["apigw_5xx"] == 6.0
    assert fault["lambda_throttles"] is None
    assert fault["injected_faults"] == 5.0 and baseline["injected_faults"] is None
    assert fault["detail"]["injected_faults"]["orders"]["error"] == 5.0
    assert fault["detail"]["lambda"]["orders"]["errors"] == 7.0
    assert fault["lambda_duration_p99_ms"] is None
    assert any("p99" in note for note in fault["notes"])


def test_queries_cover_every_target_and_percentiles_when_supported() -> None:
    targets = ServerSideTargets(
        region=REGION,
        function_names=("a", "b"),
        api_name="api",
        stage="prod",
        web_acl="acl",
        rules=("r1", "r2"),
    )
    queries = build_queries(targets)
    assert len({query.query_id for query in queries}) == len(queries)
    stats = {(q.metric, q.owner): q.stat for q in queries}
    assert stats[("Duration", "a")] == "p99" and stats[("Latency", "")] == "p99"
    assert {q.owner for q in queries if q.metric == "BlockedRequests"} == {"r1", "r2"}
    assert len([q for q in queries if q.metric == "InjectedFaults"]) == 2 * 6


def test_cloudwatch_failure_is_reported_not_raised(cloudwatch: Any) -> None:
    from botocore.stub import Stubber

    stubber = Stubber(cloudwatch)
    for _ in range(2):  # two reads
        stubber.add_client_error("get_metric_data", "Throttling", "Rate exceeded")
    with stubber:
        slis = read(cloudwatch, {"fault": (1000.0, 1060.0)})["phases"]["fault"]
    assert slis["lambda_errors"] is None
    assert any("Rate exceeded" in note for note in slis["notes"])
