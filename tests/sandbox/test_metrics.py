"""Per-second aggregation of the data plane's metrics and EMF parsing."""

from __future__ import annotations

import json
from typing import Any

from chaos.sandbox.cloudwatch.metrics import MetricsRecorder, moto_timestamp

Written = list[tuple[str, list[dict[str, Any]]]]


class Clock:
    def __init__(self) -> None:
        self.now = 5_000.2

    def __call__(self) -> float:
        return self.now


def recorder() -> tuple[MetricsRecorder, Written, Clock]:
    written: Written = []
    clock = Clock()
    return MetricsRecorder(lambda ns, data: written.append((ns, data)), clock=clock), written, clock


def test_values_of_one_second_become_one_statistic_set_written_after_the_second() -> None:
    metrics, written, clock = recorder()
    for value in (3.0, 1.0, 8.0):
        metrics.add("AWS/Lambda", "Duration", value, {"FunctionName": "orders"}, "Milliseconds")
    assert metrics.flush() == 0, "the current second is still open"
    clock.now += 1
    metrics.add("AWS/Lambda", "Duration", 100.0, {"FunctionName": "orders"}, "Milliseconds")
    assert metrics.flush() == 1
    [(namespace, [datum])] = written
    assert namespace == "AWS/Lambda"
    assert datum["StatisticValues"] == {
        "Sum": 12.0,
        "Minimum": 1.0,
        "Maximum": 8.0,
        "SampleCount": 3.0,
    }
    assert datum["Dimensions"] == [{"Name": "FunctionName", "Value": "orders"}]
    assert datum["Timestamp"].timestamp() != 0 and datum["Timestamp"].tzinfo is None
    assert metrics.flush(everything=True) == 1
    assert written[1][1][0]["StatisticValues"]["Sum"] == 100.0


def test_dimension_sets_are_kept_apart() -> None:
    metrics, written, clock = recorder()
    metrics.add("AWS/WAFV2", "BlockedRequests", 1, {"WebACL": "a", "Rule": "ALL"})
    metrics.add("AWS/WAFV2", "BlockedRequests", 1, {"Rule": "r", "WebACL": "a"})
    metrics.add("AWS/WAFV2", "BlockedRequests", 1, {"Rule": "ALL", "WebACL": "a"})
    metrics.flush(everything=True)
    sums = {
        tuple(d["Value"] for d in datum["Dimensions"]): datum["StatisticValues"]["Sum"]
        for datum in written[0][1]
    }
    # kept in the order the caller gave (moto matches dimension lists order-sensitively)
    assert sums == {("a", "ALL"): 1.0, ("r", "a"): 1.0, ("ALL", "a"): 1.0}


def test_emf_lines_become_metrics_in_their_namespace() -> None:
    metrics, written, _ = recorder()
    line = json.dumps(
        {
            "_aws": {
                "Timestamp": 4_990_000,
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
            "run_id": "r",
        }
    )
    assert metrics.record_emf(line) == 1
    assert metrics.record_emf("START RequestId: abc") == 0
    assert metrics.record_emf('{"_aws": broken') == 0
    metrics.flush()
    [(namespace, [datum])] = written
    assert namespace == "Chaos" and datum["MetricName"] == "InjectedFaults"
    assert {d["Name"]: d["Value"] for d in datum["Dimensions"]} == {
        "FunctionName": "orders",
        "FaultType": "latency",
    }
    assert datum["Timestamp"] == moto_timestamp(4_990), "the EMF line's own timestamp"
    assert datum["StatisticValues"]["SampleCount"] == 1.0


def test_a_failing_sink_does_not_raise() -> None:
    def sink(namespace: str, data: list[dict[str, Any]]) -> None:
        raise RuntimeError("backend gone")

    metrics = MetricsRecorder(sink)
    metrics.add("AWS/Lambda", "Invocations", 1, {"FunctionName": "orders"})
    assert metrics.flush(everything=True) == 1
