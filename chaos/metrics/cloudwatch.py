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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chaos.metrics.catalog import CATALOG, names

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
_PERCENTILE = "p99"


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
                    "Dimensions": [{"Name": name, "Value": value}
                                   for name, value in self.dimensions],
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


def build_queries(targets: ServerSideTargets) -> list[MetricQuery]:
    specs: list[tuple[str, str, Dimensions, str, str, str, str]] = []
    for raw_name in targets.function_names:
        name = function_name(raw_name)
        dims: Dimensions = (("FunctionName", name),)
        specs.append(("AWS/Lambda", "Errors", dims, "Sum", "lambda", name, "errors"))
        specs.append(("AWS/Lambda", "Throttles", dims, "Sum", "lambda", name, "throttles"))
        if targets.percentiles:
            specs.append(("AWS/Lambda", "Duration", dims, _PERCENTILE, "lambda", name,
                          "duration_p99_ms"))
        for fault_type in targets.fault_types:
            specs.append(("Chaos", "InjectedFaults", (("FunctionName", name),
                                                      ("FaultType", fault_type)),
                          "Sum", "injected_faults", name, fault_type))
        specs.append(("Chaos", "ExtensionInits", dims, "Sum", "extension_inits", name, "inits"))
        specs.append(("Chaos", "ExtensionFailOpen", dims, "Sum", "extension_fail_open", name,
                      "environments"))
    if targets.api_name and targets.stage:
        api_dims: Dimensions = (("ApiName", targets.api_name), ("Stage", targets.stage))
        specs.append(("AWS/ApiGateway", "5XXError", api_dims, "Sum", "apigateway", "", "5xx"))
        if targets.percentiles:
            specs.append(("AWS/ApiGateway", "Latency", api_dims, _PERCENTILE, "apigateway", "",
                          "latency_p99_ms"))
    if targets.web_acl:
        # A CLOUDFRONT web ACL's metrics (in us-east-1) have no Region dimension ("AWS WAF
        # metrics and dimensions", https://docs.aws.amazon.com/waf/latest/developerguide/
        # waf-metrics.html).
        region: Dimensions = (() if targets.waf_scope == "CLOUDFRONT"
                              else (("Region", targets.region),))
        for rule in targets.rules:
            waf_dims: Dimensions = (("WebACL", targets.web_acl), ("Rule", rule), *region)
            specs.append(("AWS/WAFV2", "BlockedRequests", waf_dims, "Sum", "waf", rule,
                          "blocked_requests"))
    return [MetricQuery(f"m{index}", *spec) for index, spec in enumerate(specs)]


def period_for(start_epoch_s: float, end_epoch_s: float) -> int:
    return max(60, math.ceil((end_epoch_s - start_epoch_s) / 60) * 60)


def fetch_values(
    cloudwatch: Any, queries: Sequence[MetricQuery], start_epoch_s: float, end_epoch_s: float
) -> dict[str, list[float]]:
    """query id -> datapoint values (an empty list: no datapoints)."""
    period = period_for(start_epoch_s, end_epoch_s)
    request: dict[str, Any] = {
        "MetricDataQueries": [query.as_request(period) for query in queries],
        "StartTime": datetime.fromtimestamp(math.floor(start_epoch_s), timezone.utc),
        "EndTime": datetime.fromtimestamp(math.ceil(end_epoch_s), timezone.utc),
    }
    values: dict[str, list[float]] = {query.query_id: [] for query in queries}
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
    return max(values) if query.stat == _PERCENTILE else float(sum(values))


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
    observed = {query.query_id: combine(query, values.get(query.query_id, []))
                for query in queries}
    detail = detail_of(queries, observed)
    return {**flat_slis(queries, observed), "detail": detail, "notes": notes}


def detail_of(
    queries: Sequence[MetricQuery], observed: Mapping[str, float | None]
) -> dict[str, Any]:
    detail: dict[str, Any] = {"lambda": {}, "apigateway": {}, "waf": {}, "injected_faults": {},
                              "extension_inits": {}, "extension_fail_open": {}}
    for query in queries:
        value = observed[query.query_id]
        if query.group == "apigateway":
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
        present = [value for query in queries
                   if query.group == group and (not key or query.key == key)
                   and (value := observed[query.query_id]) is not None]
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
