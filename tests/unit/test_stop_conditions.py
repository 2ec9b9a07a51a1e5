from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chaos.experiment.objective import parse_objective
from chaos.metrics.aggregate import RunAggregator
from chaos.metrics.rows import SecondRow
from chaos.run.stop import StopRequested, StopSignal
from chaos.run.stop_conditions import AbortWhen, AlarmWatcher, missing_alarms

REGION = "us-east-1"
START = 1_700_000_000


def row(
    second: int, requests: int, failures: int, latency_ms: float = 50.0, traffic: str = "normal"
) -> SecondRow:
    item = SecondRow(
        second=second,
        user_class="U",
        endpoint="GET /",
        traffic=traffic,  # type: ignore[arg-type]
        requests=requests,
        failures=failures,
    )
    if requests:
        item.histogram.record(latency_ms, requests)
    return item


class Fed:
    """An AbortWhen wired to the streaming aggregation, as a run wires it."""

    def __init__(self, evaluator: AbortWhen) -> None:
        self.evaluator = evaluator
        self.aggregator = RunAggregator(on_second=evaluator.feed_second)

    def feed(self, row: SecondRow) -> None:
        self.aggregator.add(row)

    def flush(self) -> None:
        self.aggregator.finish()


def abort_when(
    objective: str = "> 50%", for_s: float = 3, sli: str = "error_rate"
) -> tuple[Fed, StopSignal]:
    stop = StopSignal(600)
    return Fed(AbortWhen(sli, parse_objective(objective), for_s, stop)), stop


def test_abort_when_trips_after_the_objective_holds_for_long_enough() -> None:
    watcher, stop = abort_when()
    for offset in range(3):  # second half of each second arrives from another worker
        watcher.feed(row(START + offset, 10, 4))
        watcher.feed(row(START + offset, 10, 8))
    watcher.feed(row(START + 3, 10, 10))
    assert stop.reason is None  # seconds 0..1 settled (60% errors): streak 2 < 3
    watcher.feed(row(START + 4, 10, 10))
    assert stop.reason is not None and "error_rate > 50% for 3s" in stop.reason
    with pytest.raises(StopRequested):
        stop.check()


def test_a_good_second_breaks_the_streak_and_empty_seconds_do_not() -> None:
    watcher, stop = abort_when(for_s=3)
    pattern = [(10, 9), (10, 9), (10, 0), (10, 9), (0, 0), (10, 9), (10, 9)]
    for offset, (requests, failures) in enumerate(pattern):
        watcher.feed(row(START + offset, requests, failures))
    watcher.flush()
    assert stop.reason is not None  # 3, [4 empty], 5, 6: three bad seconds with requests
    assert watcher.evaluator.streak_start == START + 3

    watcher, stop = abort_when(for_s=3)
    for offset, (requests, failures) in enumerate(pattern[:6]):
        watcher.feed(row(START + offset, requests, failures))
    watcher.flush()
    assert stop.reason is None and watcher.evaluator.streak == 2


def test_abort_when_on_latency_and_ignores_abusive_clients() -> None:
    watcher, stop = abort_when("> 1000", for_s=2, sli="latency_p99_ms")
    for offset in range(4):
        watcher.feed(row(START + offset, 5, 0, latency_ms=50.0))
        watcher.feed(row(START + offset, 50, 0, latency_ms=5000.0, traffic="abusive"))
    watcher.flush()
    assert stop.reason is None
    for offset in range(4, 6):
        watcher.feed(row(START + offset, 5, 0, latency_ms=3000.0))
    watcher.flush()
    assert stop.reason is not None and "latency_p99_ms" in stop.reason


def test_abort_when_rejects_a_sli_it_cannot_watch() -> None:
    with pytest.raises(ValueError, match="cannot watch"):
        AbortWhen("waf_legit_blocked", parse_objective("> 0"), 5, StopSignal(60))


@pytest.fixture
def cloudwatch(fake_aws_credentials: None) -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("cloudwatch", region_name=REGION)
        for name in ("orders-5xx-high", "other-alarm"):
            client.put_metric_alarm(
                AlarmName=name,
                Namespace="AWS/ApiGateway",
                MetricName="5XXError",
                Statistic="Sum",
                Period=60,
                EvaluationPeriods=1,
                Threshold=50,
                ComparisonOperator="GreaterThanThreshold",
            )
            client.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="test")
        yield client


def wait_for(condition: Any, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return bool(condition())


def test_alarm_in_alarm_requests_a_stop_within_the_poll_interval(cloudwatch: Any) -> None:
    stop = StopSignal(600)
    messages: list[str] = []
    with AlarmWatcher(
        cloudwatch, ["orders-5xx-high"], stop, poll_interval_s=0.2, on_message=messages.append
    ) as watcher:
        assert wait_for(lambda: watcher.polls >= 2, 10)
        cloudwatch.set_alarm_state(
            AlarmName="other-alarm", StateValue="ALARM", StateReason="not watched"
        )
        assert not wait_for(lambda: stop.reason is not None, 0.6)
        cloudwatch.set_alarm_state(
            AlarmName="orders-5xx-high", StateValue="ALARM", StateReason="test"
        )
        assert wait_for(lambda: stop.reason is not None, 10)
    assert stop.reason == "alarm orders-5xx-high in ALARM"
    assert messages == ["alarm orders-5xx-high in ALARM"]
    assert not any(t.name == "alarm-watcher" for t in threading.enumerate())


def test_alarm_watcher_survives_api_errors(cloudwatch: Any) -> None:
    from botocore.stub import Stubber

    stop = StopSignal(600)
    messages: list[str] = []
    watcher = AlarmWatcher(cloudwatch, ["orders-5xx-high"], stop, on_message=messages.append)
    with Stubber(cloudwatch) as stubber:
        stubber.add_client_error("describe_alarms", "Throttling", "Rate exceeded")
        stubber.add_client_error("describe_alarms", "Throttling", "Rate exceeded")
        assert watcher.poll_once() is False and watcher.poll_once() is False
    assert stop.reason is None and len(messages) == 1 and "Rate exceeded" in messages[0]
    cloudwatch.set_alarm_state(AlarmName="orders-5xx-high", StateValue="ALARM", StateReason="test")
    assert watcher.poll_once() is True and stop.reason == "alarm orders-5xx-high in ALARM"


def test_missing_alarms(cloudwatch: Any) -> None:
    assert missing_alarms(cloudwatch, ["orders-5xx-high", "nope"]) == ["nope"]


def test_default_poll_interval_is_at_most_five_seconds() -> None:
    watcher = AlarmWatcher(object(), ["a"], StopSignal(60))
    assert 0 < watcher.poll_interval_s <= 5
