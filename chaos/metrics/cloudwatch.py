"""Server-side SLIs from CloudWatch: what the service itself recorded.

One ``get_metric_data`` read over the run (batched by 500 queries, paged only if
CloudWatch pages it) fetches each metric's datapoints: Lambda ``Errors``, ``Throttles`` and
``Duration`` p99 for each target function; API Gateway ``5XXError`` and ``Latency`` p99
(ApiName, Stage); WAF ``BlockedRequests`` per rule (WebACL, Rule, Region); the extension's
``Chaos/InjectedFaults`` (FunctionName, FaultType). A metric without datapoints is
reported as absent (None), never as zero.

CloudWatch keeps these metrics at 1-minute resolution, so a phase boundary falls inside
a datapoint: each window (a phase, the run) gets the share of each datapoint it is given
(chaos.metrics.attribution) - counts are summed by share, a p99 is the largest of the
datapoints the window touches (an upper bound: percentiles cannot be merged).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chaos.metrics.catalog import (
    APIGW_5XX,
    CATALOG,
    EXTENSION_FAIL_OPEN,
    INJECTED_FAULTS,
    INJECTION_COLD_STARTS,
    LAMBDA_ERRORS,
    P99,
    WAF_BLOCKED_REQUESTS,
    Sli,
    names,
)

__all__ = [
    "FAULT_TYPES",
    "Datapoints",
    "MetricQuery",
    "ServerSideTargets",
    "aligned",
    "build_queries",
    "is_waf",
    "period_for",
    "read_series",
    "slis_from_series",
]

log = logging.getLogger(__name__)

#: The extension's FaultType dimension values: every mode of its config (gameday_chaos.config
#: FAULT_TYPES; extension/README.md, "Telemetry").
FAULT_TYPES = ("latency", "disk", "timeout", "exception", "error", "corruption")
_MAX_PAGES = 20
Dimensions = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ServerSideTargets:
    """What to read: the target functions, the API stage, the web ACL and its rules."""

    region: str
    function_names: tuple[str, ...] = ()
    api_name: str | None = None
    stage: str | None = None
    web_acl: str | None = None  # the WebACL dimension: the web ACL's metric name
    rules: tuple[str, ...] = ()  # the Rule dimension: each rule's metric name
    fault_types: tuple[str, ...] = FAULT_TYPES
    # moto (the sandbox's CloudWatch) cannot compute percentile statistics.
    percentiles: bool = True
    waf_scope: str = "REGIONAL"  # the web ACL's scope (RateRule.scope)


@dataclass(frozen=True)
class MetricQuery:
    """One metric of the batch, and where its value goes in the SLIs."""

    query_id: str
    namespace: str
    metric: str
    dimensions: Dimensions
    stat: str
    group: str  # lambda | apigateway | waf | injected_faults | extension_inits |
    # extension_fail_open
    owner: str  # function name, rule name, or "" for the API stage
    key: str  # errors, throttles, duration_p99_ms, 5xx, latency_p99_ms, blocked_requests, ...

    def as_request(self, period_s: int) -> dict[str, Any]:
        return {
            "Id": self.query_id,
            "MetricStat": {
                "Metric": {
                    "Namespace": self.namespace,
                    "MetricName": self.metric,
                    "Dimensions": [
                        {"Name": name, "Value": value} for name, value in self.dimensions
                    ],
                },
                "Period": period_s,
                "Stat": self.stat,
            },
            "ReturnData": True,
        }


def function_name(name_or_arn: str) -> str:
    """The FunctionName dimension of a function name or ARN (qualifier dropped)."""
    if name_or_arn.startswith("arn:"):
        parts = name_or_arn.split(":")
        return parts[6] if len(parts) > 6 else name_or_arn
    return name_or_arn


#: The server-side SLIs of the catalog by group (the first part of their key), in order.
_SERVER_SLIS: dict[str, tuple[Sli, ...]] = {}
for _sli in (CATALOG[name] for name in names("server")):
    _SERVER_SLIS[_sli.key[0]] = (*_SERVER_SLIS.get(_sli.key[0], ()), _sli)
_LAMBDA, _APIGATEWAY, _WAF, _INJECTED, _INITS, _FAIL_OPEN = (
    CATALOG[name].key[0]
    for name in (
        LAMBDA_ERRORS,
        APIGW_5XX,
        WAF_BLOCKED_REQUESTS,
        INJECTED_FAULTS,
        INJECTION_COLD_STARTS,
        EXTENSION_FAIL_OPEN,
    )
)


def build_queries(targets: ServerSideTargets) -> list[MetricQuery]:
    """The batch for `targets`: each catalog SLI's metric, once per function, API stage or
    WAF rule it is read for."""
    specs: list[tuple[Sli, Dimensions, str, str]] = []  # SLI, dimensions, owner, key
    for raw_name in targets.function_names:
        name = function_name(raw_name)
        dims: Dimensions = (("FunctionName", name),)
        specs.extend((sli, dims, name, sli.key[1]) for sli in _SERVER_SLIS[_LAMBDA])
        specs.extend(
            (sli, (*dims, ("FaultType", fault_type)), name, fault_type)
            for sli in _SERVER_SLIS[_INJECTED]
            for fault_type in targets.fault_types
        )
        specs.extend((sli, dims, name, "inits") for sli in _SERVER_SLIS[_INITS])
        specs.extend((sli, dims, name, "environments") for sli in _SERVER_SLIS[_FAIL_OPEN])
    if targets.api_name and targets.stage:
        api_dims: Dimensions = (("ApiName", targets.api_name), ("Stage", targets.stage))
        specs.extend((sli, api_dims, "", sli.key[1]) for sli in _SERVER_SLIS[_APIGATEWAY])
    if targets.web_acl:
        # A CLOUDFRONT web ACL's metrics (in us-east-1) have no Region dimension ("AWS WAF
        # metrics and dimensions", https://docs.aws.amazon.com/waf/latest/developerguide/
        # waf-metrics.html).
        region: Dimensions = (
            () if targets.waf_scope == "CLOUDFRONT" else (("Region", targets.region),)
        )
        for rule in targets.rules:
            waf_dims: Dimensions = (("WebACL", targets.web_acl), ("Rule", rule), *region)
            specs.extend((sli, waf_dims, rule, sli.key[1]) for sli in _SERVER_SLIS[_WAF])
    queries: list[MetricQuery] = []
    for sli, dimensions, owner, key in specs:
        assert sli.metric is not None
        namespace, metric, stat = sli.metric
        if stat == P99 and not targets.percentiles:
            continue
        queries.append(
            MetricQuery(
                f"m{len(queries)}", namespace, metric, dimensions, stat, sli.key[0], owner, key
            )
        )
    return queries


def is_waf(query: MetricQuery) -> bool:
    """Whether `query` reads a WAF rule's metric (a CLOUDFRONT web ACL's are in us-east-1)."""
    return query.group == _WAF


#: The finest period CloudWatch still keeps for data of an age: 60-second datapoints for
#: 15 days, 5-minute ones for 63 days, then 1-hour ones for 455 days ("Amazon CloudWatch
#: concepts", metrics retention, https://docs.aws.amazon.com/AmazonCloudWatch/latest/
#: monitoring/cloudwatch_concepts.html#metrics-retention). A `report --refresh` weeks
#: later asks for what is left instead of getting nothing.
RETAINED_PERIODS = ((15 * 86400, 60), (63 * 86400, 300), (float("inf"), 3600))


def period_for(start_epoch_s: float, now: float | None = None) -> int:
    """The finest datapoint period CloudWatch still keeps for data from `start_epoch_s`."""
    age = (time.time() if now is None else now) - start_epoch_s
    return next(period for oldest, period in RETAINED_PERIODS if age < oldest)


def aligned(start_epoch_s: float, end_epoch_s: float, period_s: int) -> tuple[int, int]:
    """The whole periods that cover ``[start, end)``: CloudWatch rounds StartTime down to
    the period of the data's age ("GetMetricData", StartTime), so datapoints start there."""
    start = math.floor(start_epoch_s / period_s) * period_s
    end = math.ceil(end_epoch_s / period_s) * period_s
    return start, max(end, start + period_s)


#: GetMetricData takes at most 500 queries per call ("GetMetricData", CloudWatch API
#: Reference, https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/
#: API_GetMetricData.html): about 62 functions' worth of ours. More are read in batches.
MAX_QUERIES_PER_CALL = 500

#: One metric's datapoints: period start (epoch seconds) -> value.
Datapoints = dict[int, float]


def fetch_series(
    cloudwatch: Any,
    queries: Sequence[MetricQuery],
    start_epoch_s: float,
    end_epoch_s: float,
    period_s: int,
) -> dict[str, Datapoints]:
    """query id -> its datapoints of `period_s` over the periods covering the window (an
    empty dict: no datapoints)."""
    series: dict[str, Datapoints] = {query.query_id: {} for query in queries}
    start, end = aligned(start_epoch_s, end_epoch_s, period_s)
    for first in range(0, len(queries), MAX_QUERIES_PER_CALL):
        batch = queries[first : first + MAX_QUERIES_PER_CALL]
        for query_id, found in _fetch_batch(cloudwatch, batch, start, end, period_s).items():
            series.setdefault(query_id, {}).update(found)
    return series


def _fetch_batch(
    cloudwatch: Any, queries: Sequence[MetricQuery], start: int, end: int, period_s: int
) -> dict[str, Datapoints]:
    request: dict[str, Any] = {
        "MetricDataQueries": [query.as_request(period_s) for query in queries],
        "StartTime": datetime.fromtimestamp(start, timezone.utc),
        "EndTime": datetime.fromtimestamp(end, timezone.utc),
    }
    series: dict[str, Datapoints] = {}
    for _ in range(_MAX_PAGES):
        response = cloudwatch.get_metric_data(**request)
        for item in response.get("MetricDataResults", []):
            points = series.setdefault(item["Id"], {})
            for stamp, value in zip(
                item.get("Timestamps", []), item.get("Values", []), strict=True
            ):
                if value is not None:
                    points[int(stamp.timestamp())] = float(value)
        token = response.get("NextToken")
        if not token:
            break
        request["NextToken"] = token
    return series


def attributed(
    query: MetricQuery, points: Mapping[int, float], shares: Mapping[int, float]
) -> float | None:
    """One metric over a window, from its datapoints and the share of each period that
    falls to the window: counts summed by share, a p99 the largest of the periods the
    window touches (an upper bound: percentiles can be neither merged nor split)."""
    inside = [(value, shares[at]) for at, value in points.items() if shares.get(at, 0.0) > 0]
    if not inside:
        return None
    if query.stat == P99:
        return max(value for value, _ in inside)
    return round(sum(value * share for value, share in inside), 3)


def slis_from_series(
    queries: Sequence[MetricQuery],
    series: Mapping[str, Mapping[int, float]],
    shares: Mapping[int, float],
) -> dict[str, Any]:
    """The server-side SLIs of one window: flat SLI names (``lambda_errors`` ...) plus
    ``detail`` per function / rule."""
    observed = {
        query.query_id: attributed(query, series.get(query.query_id, {}), shares)
        for query in queries
    }
    return {**flat_slis(queries, observed), "detail": detail_of(queries, observed)}


def read_series(
    cloudwatch: Any,
    queries: Sequence[MetricQuery],
    start_epoch_s: float,
    end_epoch_s: float,
    period_s: int,
) -> tuple[dict[str, Datapoints], list[str]]:
    """:func:`fetch_series`, and what went wrong: never raises for CloudWatch errors (the
    series then have no datapoints and the note says why)."""
    if not queries or end_epoch_s <= start_epoch_s:
        return {query.query_id: {} for query in queries}, []
    try:
        return fetch_series(cloudwatch, queries, start_epoch_s, end_epoch_s, period_s), []
    except (BotoCoreError, ClientError) as error:
        log.debug("get_metric_data failed", exc_info=True)
        return (
            {query.query_id: {} for query in queries},
            [f"CloudWatch get_metric_data failed: {error}"],
        )


def detail_of(
    queries: Sequence[MetricQuery], observed: Mapping[str, float | None]
) -> dict[str, Any]:
    detail: dict[str, Any] = {group: {} for group in _SERVER_SLIS}
    for query in queries:
        value = observed[query.query_id]
        if query.group == _APIGATEWAY:
            detail["apigateway"][query.key] = value
        else:
            detail[query.group].setdefault(query.owner, {})[query.key] = value
    return detail


def flat_slis(
    queries: Sequence[MetricQuery], observed: Mapping[str, float | None]
) -> dict[str, float | None]:
    """SLI name -> value over all targets: counts summed, p99 the largest; None if absent."""
    combiners: dict[str, Callable[[list[float]], float]] = {"sum": sum, "max": max}
    slis: dict[str, float | None] = {}
    for sli in names("server"):
        entry = CATALOG[sli]
        group, key = entry.key
        present = [
            value
            for query in queries
            if query.group == group
            and (not key or query.key == key)
            and (value := observed[query.query_id]) is not None
        ]
        slis[sli] = float(combiners[entry.combine](present)) if present else None
    return slis
