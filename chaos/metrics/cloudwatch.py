"""Server-side SLIs from CloudWatch, per phase: what the service itself recorded.

One ``get_metric_data`` call per phase (paged only if CloudWatch pages it) fetches:
Lambda ``Errors``, ``Throttles`` and ``Duration`` p99 for each target function; API
Gateway ``5XXError`` and ``Latency`` p99 (ApiName, Stage); WAF ``BlockedRequests`` per
rule (WebACL, Rule, Region); the extension's ``Chaos/InjectedFaults`` (FunctionName,
FaultType). A metric without datapoints is reported as absent (None), never as zero.

CloudWatch keeps these metrics at 1-minute resolution: the period is the phase rounded up
to whole minutes, so a phase shorter than a minute shares datapoints with its neighbours.
When CloudWatch returns several datapoints, counts are summed and a p99 is the largest
one (an upper bound: percentiles cannot be merged).
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
    "MetricQuery",
    "ServerSideTargets",
    "build_queries",
    "server_side_by_phase",
    "server_side_slis",
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


#: The finest period CloudWatch still keeps for data of an age: 60-second datapoints for
#: 15 days, 5-minute ones for 63 days, then 1-hour ones for 455 days ("Amazon CloudWatch
#: concepts", metrics retention, https://docs.aws.amazon.com/AmazonCloudWatch/latest/
#: monitoring/cloudwatch_concepts.html#metrics-retention). A `report --refresh` weeks
#: later asks for what is left instead of getting nothing.
RETAINED_PERIODS = ((15 * 86400, 60), (63 * 86400, 300), (float("inf"), 3600))


def period_for(start_epoch_s: float, end_epoch_s: float, now: float | None = None) -> int:
    """One period over the whole window, in a resolution CloudWatch still keeps."""
    age = (time.time() if now is None else now) - start_epoch_s
    unit = next(period for oldest, period in RETAINED_PERIODS if age < oldest)
    return max(unit, math.ceil((end_epoch_s - start_epoch_s) / unit) * unit)


#: GetMetricData takes at most 500 queries per call ("GetMetricData", CloudWatch API
#: Reference, https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/
#: API_GetMetricData.html): about 62 functions' worth of ours. More are read in batches.
MAX_QUERIES_PER_CALL = 500


def fetch_values(
    cloudwatch: Any, queries: Sequence[MetricQuery], start_epoch_s: float, end_epoch_s: float
) -> dict[str, list[float]]:
    """query id -> datapoint values (an empty list: no datapoints)."""
    values: dict[str, list[float]] = {query.query_id: [] for query in queries}
    for first in range(0, len(queries), MAX_QUERIES_PER_CALL):
        batch = queries[first : first + MAX_QUERIES_PER_CALL]
        for query_id, found in _fetch_batch(cloudwatch, batch, start_epoch_s, end_epoch_s).items():
            values.setdefault(query_id, []).extend(found)
    return values


def _fetch_batch(
    cloudwatch: Any, queries: Sequence[MetricQuery], start_epoch_s: float, end_epoch_s: float
) -> dict[str, list[float]]:
    period = period_for(start_epoch_s, end_epoch_s)
    request: dict[str, Any] = {
        "MetricDataQueries": [query.as_request(period) for query in queries],
        "StartTime": datetime.fromtimestamp(math.floor(start_epoch_s), timezone.utc),
        "EndTime": datetime.fromtimestamp(math.ceil(end_epoch_s), timezone.utc),
    }
    values: dict[str, list[float]] = {}
    for _ in range(_MAX_PAGES):
        response = cloudwatch.get_metric_data(**request)
        for item in response.get("MetricDataResults", []):
            values.setdefault(item["Id"], []).extend(
                float(value) for value in item.get("Values", []) if value is not None
            )
        token = response.get("NextToken")
        if not token:
            break
        request["NextToken"] = token
    return values


def combine(query: MetricQuery, values: Sequence[float]) -> float | None:
    if not values:
        return None
    return max(values) if query.stat == P99 else float(sum(values))


def server_side_slis(
    cloudwatch: Any, targets: ServerSideTargets, start_epoch_s: float, end_epoch_s: float
) -> dict[str, Any]:
    """The server-side SLIs of one window: flat SLI names (``lambda_errors`` ...) plus
    ``detail`` per function / rule and ``notes``. Never raises for CloudWatch errors."""
    queries = build_queries(targets)
    notes: list[str] = []
    values: dict[str, list[float]] = {}
    if queries and end_epoch_s > start_epoch_s:
        try:
            values = fetch_values(cloudwatch, queries, start_epoch_s, end_epoch_s)
        except (BotoCoreError, ClientError) as error:
            log.debug("get_metric_data failed", exc_info=True)
            notes.append(f"CloudWatch get_metric_data failed: {error}")
    if not targets.percentiles:
        notes.append("p99 statistics are not available from this CloudWatch (sandbox)")
    observed = {query.query_id: combine(query, values.get(query.query_id, [])) for query in queries}
    detail = detail_of(queries, observed)
    return {**flat_slis(queries, observed), "detail": detail, "notes": notes}


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


def server_side_by_phase(
    cloudwatch: Any, targets: ServerSideTargets, phase_windows: Mapping[str, tuple[float, float]]
) -> dict[str, dict[str, Any]]:
    """server_side_slis for each phase window: one batched call per phase."""
    return {
        phase: server_side_slis(cloudwatch, targets, start, end)
        for phase, (start, end) in phase_windows.items()
    }
