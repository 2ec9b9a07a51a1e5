"""`gameday report --refresh` reads CloudWatch by the run's own rule: nothing before the
run's last minute is the ingestion lag in the past, then each metric settled by that
minute's datapoint or by an unchanged read one publishing interval later; each minute split
between the phases by share; a CLOUDFRONT web ACL's WAF metrics in us-east-1. Against a
fake CloudWatch and a fake clock."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any

import pytest

from chaos.aws.clients import AwsClients
from chaos.clock import iso_from_epoch
from chaos.errors import InputError
from chaos.metrics.cloudwatch import ServerSideTargets
from chaos.metrics.server_side import (
    CLOUDFRONT_METRICS_REGION,
    ServerSideQuery,
    cloudwatch_in_regions_of,
)
from chaos.metrics.settle import AWS_LAGS
from chaos.result.refresh import refresh_result
from tests.fake_clock import FakeClock

RUN_START = 1_700_000_010.0  # not on a minute
PHASES = {
    "baseline": (RUN_START, RUN_START + 20),
    "fault": (RUN_START + 20, RUN_START + 40),
    "recovery": (RUN_START + 40, RUN_START + 55),
}
RUN_END = RUN_START + 55
LAST_MINUTE_END = math.ceil(RUN_END / 60) * 60
# This CloudWatch shows a minute 40 s after it ends: within the documented lag.
INGESTION_S = 40.0
ERRORS_PER_S = 1.0
BLOCKED_PER_S = 2.0


class FakeCloudWatch:
    """One Region's CloudWatch: Lambda Errors there, and a WAF rule's BlockedRequests where
    its web ACL's metrics live; a minute's datapoint appears INGESTION_S after it ends."""

    def __init__(
        self,
        region: str,
        clock: FakeClock,
        reads: list[tuple[str, float]],
        waf_dimensions: frozenset[tuple[str, str]],
    ) -> None:
        self.region, self.clock, self.reads = region, clock, reads
        self.waf_dimensions = waf_dimensions

    def _rate(self, stat: dict[str, Any]) -> float:
        metric = stat["Metric"]
        dimensions = frozenset((d["Name"], d["Value"]) for d in metric["Dimensions"])
        if (metric["Namespace"], metric["MetricName"]) == ("AWS/Lambda", "Errors"):
            return ERRORS_PER_S if self.region == "eu-west-1" else 0.0
        if (metric["Namespace"], metric["MetricName"]) == ("AWS/WAFV2", "BlockedRequests"):
            return BLOCKED_PER_S if dimensions == self.waf_dimensions else 0.0
        return 0.0

    def get_metric_data(
        self,
        MetricDataQueries: list[dict[str, Any]],  # noqa: N803
        StartTime: datetime,
        EndTime: datetime,  # noqa: N803
        **_: Any,
    ) -> dict[str, Any]:
        self.reads.append((self.region, self.clock.now))
        start, end = StartTime.timestamp(), EndTime.timestamp()
        visible = [
            minute
            for minute in range(int(start), int(end), 60)
            if minute + 60 + INGESTION_S <= self.clock.now
        ]
        results = []
        for query in MetricDataQueries:
            assert query["MetricStat"]["Period"] == 60, "one-minute datapoints"
            rate = self._rate(query["MetricStat"])
            minutes = visible if rate else []
            results.append(
                {
                    "Id": query["Id"],
                    "Timestamps": [datetime.fromtimestamp(at, timezone.utc) for at in minutes],
                    "Values": [rate * _run_seconds_in(minute) for minute in minutes],
                }
            )
        return {"MetricDataResults": results}


def _run_seconds_in(minute: int) -> float:
    return max(0.0, min(minute + 60, RUN_END) - max(minute, RUN_START))


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """A client built by default would reach nothing but a closed local port."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")


class FakeAws:
    """CloudWatch clients by Region: the Regions asked for, and every read (Region, time)."""

    def __init__(self, clock: FakeClock, waf_dimensions: frozenset[tuple[str, str]]) -> None:
        self.clock, self.waf_dimensions = clock, waf_dimensions
        self.regions: list[str] = []
        self.reads: list[tuple[str, float]] = []

    def cloudwatch_in(self, region: str) -> FakeCloudWatch:
        self.regions.append(region)
        return FakeCloudWatch(region, self.clock, self.reads, self.waf_dimensions)

    def refresh(self, result: dict[str, Any]) -> None:
        refresh_result(
            result,
            None,
            cloudwatch_in=self.cloudwatch_in,
            clock=self.clock.time,
            sleep=self.clock.sleep,
        )


def a_result(*, scope: str = "REGIONAL", timeout_s: float = 300.0) -> dict[str, Any]:
    """A run's result as `gameday report --refresh` finds it: its query, its SLO checks."""
    targets = ServerSideTargets(
        region="eu-west-1",
        function_names=("orders",),
        web_acl="orders-acl",
        rules=("per-ip",),
        percentiles=False,
        waf_scope=scope,
    )
    query = ServerSideQuery(targets, PHASES, timeout_s=timeout_s)
    return {
        "outcome": "failed",
        "notes": [],
        "faults": [],
        "fault_kinds": [],
        "phases": {name: {"requests": 10} for name in PHASES},
        "slo": [
            {
                "sli": "lambda_errors",
                "phase": None,
                "objective": "< 1000",
                "observed": None,
                "passed": False,
            }
        ],
        "server_side_query": query.to_dict(),
    }


REGIONAL_WAF = frozenset({("WebACL", "orders-acl"), ("Rule", "per-ip"), ("Region", "eu-west-1")})


@pytest.mark.usefixtures("no_network")
def test_a_refresh_right_after_the_run_stays_unsettled_and_its_slo_fails_as_such() -> None:
    clock = FakeClock(RUN_END + 2)
    aws = FakeAws(clock, REGIONAL_WAF)
    reads = aws.reads
    result = a_result(timeout_s=5.0)  # the run's settle bound: 5 s
    aws.refresh(result)
    assert result["server_side"]["settled"] is False
    assert all(result["phases"][name]["server_side"]["settled"] is False for name in PHASES)
    (check,) = result["slo"]
    assert check["passed"] is False and check["note"].startswith("not settled")
    assert result["outcome"] == "failed"
    assert reads and clock.now - (RUN_END + 2) <= 5.0 + 1e-9, "within the run's bound"


@pytest.mark.usefixtures("no_network")
def test_a_refresh_reads_nothing_before_the_lag_then_settles_on_complete_figures() -> None:
    clock = FakeClock(RUN_END + 2)
    aws = FakeAws(clock, REGIONAL_WAF)
    reads = aws.reads
    result = a_result()
    aws.refresh(result)
    assert min(when for _, when in reads) >= LAST_MINUTE_END + AWS_LAGS.standard_s
    assert result["server_side"]["settled"] is True
    assert result["server_side"]["lambda_errors"] == pytest.approx(ERRORS_PER_S * 55)
    (check,) = result["slo"]
    assert check["passed"] is True and check["observed"] == pytest.approx(55)


@pytest.mark.usefixtures("no_network")
def test_a_later_refresh_settles_at_once_and_splits_each_minute_between_the_phases() -> None:
    clock = FakeClock(LAST_MINUTE_END + 600)
    aws = FakeAws(clock, REGIONAL_WAF)
    reads = aws.reads
    result = a_result(timeout_s=30.0)
    aws.refresh(result)
    assert result["server_side"]["settled"] is True
    assert len({when for _, when in reads}) == 2, "two reads, a poll apart"
    # The fault phase (20 s) draws on the two minutes that cover it, each shared with a
    # neighbour: it takes its share of each (the run's 30 s of the first minute, 25 s of
    # the second), no longer both minutes whole (which gave it all 55 errors).
    fault = result["phases"]["fault"]["server_side"]
    first_minute = math.floor(PHASES["fault"][0] / 60) * 60
    assert fault["minutes"] == {
        "from": iso_from_epoch(first_minute),
        "to": iso_from_epoch(LAST_MINUTE_END),
        "count": 2,
    }
    assert fault["lambda_errors"] == pytest.approx(ERRORS_PER_S * 20)
    assert fault["attribution"] == "per-minute share"
    assert fault["boundary_minutes"] == [
        {
            "from": iso_from_epoch(first_minute),
            "to": iso_from_epoch(first_minute + 60),
            "shares": {"baseline": round(20 / 30, 3), "fault": round(10 / 30, 3)},
        },
        {
            "from": iso_from_epoch(first_minute + 60),
            "to": iso_from_epoch(LAST_MINUTE_END),
            "shares": {"fault": round(10 / 25, 3), "recovery": round(15 / 25, 3)},
        },
    ]
    phases = result["phases"]
    assert phases["baseline"]["server_side"]["lambda_errors"] == pytest.approx(20)
    assert phases["recovery"]["server_side"]["lambda_errors"] == pytest.approx(15)
    assert result["server_side"]["lambda_errors"] == pytest.approx(ERRORS_PER_S * 55)


@pytest.mark.usefixtures("no_network")
def test_a_cloudfront_web_acls_waf_metrics_are_refreshed_in_us_east_1() -> None:
    clock = FakeClock(LAST_MINUTE_END + 600)
    global_waf = frozenset({("WebACL", "orders-acl"), ("Rule", "per-ip")})  # no Region
    aws = FakeAws(clock, global_waf)
    regions, reads = aws.regions, aws.reads
    result = a_result(scope="CLOUDFRONT", timeout_s=30.0)
    aws.refresh(result)
    assert sorted(regions) == ["eu-west-1", "us-east-1"]
    assert {region for region, _ in reads} == {"eu-west-1", "us-east-1"}
    assert result["server_side"]["settled"] is True
    assert result["server_side"]["waf_blocked_requests"] == pytest.approx(BLOCKED_PER_S * 55)
    assert result["server_side"]["lambda_errors"] == pytest.approx(ERRORS_PER_S * 55)


def test_a_sandbox_run_is_not_refreshed_from_another_sandbox(
    monkeypatch: pytest.MonkeyPatch, gameday_home: Any
) -> None:
    result = a_result()
    result["server_side_query"]["endpoint_url"] = "http://127.0.0.1:1"
    with pytest.raises(InputError, match="is not running"):
        refresh_result(result, None)


def test_the_run_and_the_refresh_read_other_regions_on_the_same_endpoint_and_profile() -> None:
    clients = AwsClients(region="eu-west-1", endpoint_url="http://127.0.0.1:9", profile=None)
    cloudwatch_in = cloudwatch_in_regions_of(clients)
    assert cloudwatch_in("eu-west-1") is clients.client("cloudwatch")
    global_cloudwatch = cloudwatch_in(CLOUDFRONT_METRICS_REGION)
    assert global_cloudwatch.meta.region_name == "us-east-1"
    assert global_cloudwatch.meta.endpoint_url == "http://127.0.0.1:9"
