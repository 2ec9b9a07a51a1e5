"""Server-side SLIs of a run: which CloudWatch metrics to read, per phase, once settled.

Explicit inputs only (the API stage, the functions, the WAF rule, the phase windows):
:func:`run_query` resolves them into a :class:`ServerSideQuery`, kept in result.json, and
:func:`read_settled` reads it once settled: the run and `gameday report --refresh` both
call it, so both read the same figures by the same rule (and in the same Regions).

CloudWatch keeps these metrics one datapoint a minute: the run's datapoints are read once
and each is split between the phases by share (chaos.metrics.attribution); each phase's
figures say which minutes they draw on, how (`attribution`), and which of those minutes
they share with another segment (`boundary_minutes`, with the shares).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from chaos.aws.clients import AwsClients
from chaos.clock import iso_from_epoch
from chaos.metrics.attribution import (
    attribution_label,
    boundary_periods,
    period_shares,
    run_span,
    shares_of,
)
from chaos.metrics.catalog import reads_emf_metrics, reads_server_side_metrics
from chaos.metrics.cloudwatch import (
    MetricQuery,
    ServerSideTargets,
    aligned,
    build_queries,
    function_name,
    is_waf,
    period_for,
    read_series,
    slis_from_series,
)
from chaos.metrics.settle import (
    CloudWatchLag,
    Reading,
    Settled,
    minute_window,
    read_when_settled,
)
from chaos.phases import PHASES

if TYPE_CHECKING:
    from chaos.experiment import Experiment
    from chaos.load.waf import RateRule
    from chaos.metrics.aggregate import PhaseClock

__all__ = [
    "CLOUDFRONT_METRICS_REGION",
    "ApiStage",
    "CloudWatchIn",
    "UNAVAILABLE_NOTE",
    "UNSETTLED_NOTE",
    "ServerSideQuery",
    "api_stage_of",
    "cloudwatch_in_regions_of",
    "read_server_side",
    "read_settled",
    "reads_global_waf_metrics",
    "run_query",
    "server_side_targets",
]

#: How the notes of a read that is not complete begin (a later read replaces them).
UNSETTLED_NOTE = "CloudWatch had not settled"
UNAVAILABLE_NOTE = "server-side metrics unavailable"

#: A CloudWatch client in the Region given (the target's, or us-east-1 for global metrics).
CloudWatchIn = Callable[[str], Any]


@dataclass(frozen=True)
class ApiStage:
    """The ApiName and Stage dimensions of the endpoint's API Gateway metrics."""

    name: str | None
    stage: str | None


def api_stage_of(apigateway: Any, endpoint: str, rest_api_id: str | None = None) -> ApiStage:
    """The API's name and stage from an execute-api URL (or a known REST API id).

    The ApiName dimension is the API's *name*, which only `GetRestApi` tells.
    """
    parts = urlsplit(endpoint)
    stage = parts.path.strip("/").split("/", 1)[0] or None
    host = parts.hostname or ""
    if rest_api_id is None and ".execute-api." in host:
        rest_api_id = host.split(".", 1)[0]
    if rest_api_id is None:
        return ApiStage(None, stage)
    try:
        return ApiStage(str(apigateway.get_rest_api(restApiId=rest_api_id)["name"]), stage)
    except Exception:  # noqa: BLE001 - without the name the API metrics are reported absent
        return ApiStage(None, stage)


def server_side_targets(
    *,
    region: str,
    function_arns: Iterable[str],
    api: ApiStage,
    rule: RateRule | None,
    percentiles: bool = True,
) -> ServerSideTargets:
    """What to read for a run: its Lambda functions, its API stage, its WAF rate rule."""
    names = tuple(sorted({function_name(arn) for arn in function_arns}))
    return ServerSideTargets(
        region=region,
        function_names=names,
        api_name=api.name,
        stage=api.stage,
        web_acl=(rule.web_acl_metric_name or rule.web_acl_name) if rule else None,
        rules=((rule.metric_name or rule.name),) if rule else (),
        percentiles=percentiles,
        waf_scope=rule.scope if rule else "REGIONAL",
    )


@dataclass(frozen=True)
class ServerSideQuery:
    """Everything needed to read a run's server-side figures, now or later."""

    targets: ServerSideTargets
    phase_windows: dict[str, tuple[float, float]]  # measured windows, epoch seconds
    emf: bool = False  # EMF metrics (the extension's) are read: they settle later
    timeout_s: float = 300.0
    endpoint_url: str | None = None  # the sandbox's AWS API; None for AWS

    def to_dict(self) -> dict[str, Any]:
        return {
            "targets": dataclasses.asdict(self.targets),
            "phase_windows": {name: list(window) for name, window in self.phase_windows.items()},
            "emf": self.emf,
            "timeout_s": self.timeout_s,
            "endpoint_url": self.endpoint_url,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ServerSideQuery:
        targets: dict[str, Any] = {
            key: tuple(value) if isinstance(value, list) else value
            for key, value in raw["targets"].items()
        }
        return cls(
            ServerSideTargets(**targets),
            {
                name: (float(window[0]), float(window[1]))
                for name, window in raw["phase_windows"].items()
            },
            bool(raw.get("emf")),
            float(raw.get("timeout_s", 300.0)),
            raw.get("endpoint_url"),
        )


@dataclass
class ServerSideFigures:
    phases: dict[str, dict[str, Any]] = field(default_factory=dict)
    run: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"phases": self.phases, "run": self.run, "notes": self.notes}


#: A CLOUDFRONT-scope web ACL's metrics live in US East (N. Virginia) (AWS WAF Developer
#: Guide, "AWS WAF metrics and dimensions").
CLOUDFRONT_METRICS_REGION = "us-east-1"


def reads_global_waf_metrics(targets: ServerSideTargets) -> bool:
    """Whether the WAF metrics are read with a us-east-1 client beside the Region's one."""
    return targets.waf_scope == "CLOUDFRONT" and targets.region != CLOUDFRONT_METRICS_REGION


def read_once(
    cloudwatch: Any,
    query: ServerSideQuery,
    global_cloudwatch: Any | None = None,
    *,
    period_s: int,
) -> Reading:
    """One read of every metric's datapoints over the run's whole periods.

    `global_cloudwatch`: a us-east-1 client, for a CLOUDFRONT web ACL's WAF metrics when
    the target's Region is another one.
    """
    queries = build_queries(query.targets)
    start, end = run_span(query.phase_windows)
    here = queries
    elsewhere: list[MetricQuery] = []
    if global_cloudwatch is not None and query.targets.waf_scope == "CLOUDFRONT":
        here = [item for item in queries if not is_waf(item)]
        elsewhere = [item for item in queries if is_waf(item)]
    series, notes = read_series(cloudwatch, here, start, end, period_s)
    if elsewhere:
        waf_series, waf_notes = read_series(global_cloudwatch, elsewhere, start, end, period_s)
        series.update(waf_series)
        notes += waf_notes
    if not query.targets.percentiles:
        notes.append("p99 statistics are not available from this CloudWatch (sandbox)")
    return Reading(series, period_s, tuple(notes))


def figures_of(reading: Reading, query: ServerSideQuery) -> dict[str, Any]:
    """Each phase's and the run's figures from one reading: every datapoint split between
    the phases by share, the run taking its minutes whole."""
    queries = build_queries(query.targets)
    periods = period_shares(query.phase_windows, reading.period_s)
    label = attribution_label(reading.period_s)
    figures = ServerSideFigures()
    for name, window in query.phase_windows.items():
        figures.phases[name] = {
            **slis_from_series(queries, reading.series, shares_of(periods, name)),
            "notes": list(reading.notes),
            "minutes": _minutes(*minute_window(*window)),
            "attribution": label,
            "boundary_minutes": boundary_periods(periods, name),
        }
    figures.run = {
        **slis_from_series(queries, reading.series, shares_of(periods, None)),
        "notes": list(reading.notes),
        "minutes": _minutes(*minute_window(*run_span(query.phase_windows))),
        "attribution": label,
        "boundary_minutes": boundary_periods(periods),
    }
    return figures.as_dict()


def _minutes(start: float, end: float) -> dict[str, Any]:
    return {
        "from": iso_from_epoch(start),
        "to": iso_from_epoch(end),
        "count": int((end - start) // 60),
    }


def read_server_side(
    cloudwatch: Any,
    query: ServerSideQuery,
    lag: CloudWatchLag,
    on_wait: Callable[[str], None] | None = None,
    global_cloudwatch: Any | None = None,
    *,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    given_up: Callable[[], bool] = lambda: False,
) -> dict[str, Any]:
    """``{"phases": {phase: slis}, "run": slis, "notes": [...], "settled": bool}``.

    The same rule for a run and for `gameday report --refresh` (chaos.metrics.settle):
    nothing is read before the run's last minute is `lag` in the past; a metric is settled
    once its datapoint of that minute is in, or one publishing interval later when a read
    finds it unchanged; all within the query's `timeout_s`. Never raises: metrics are best
    effort, and an SLO on a missing or unsettled figure fails as such.
    """
    if not query.phase_windows:
        return {"phases": {}, "run": None, "notes": [], "settled": True}
    lag_s = lag.emf_s if query.emf else lag.standard_s
    start, end = run_span(query.phase_windows)
    period_s = period_for(start, clock())
    last_datapoint: int | None = None
    data_until = end
    if lag.whole_minutes:
        # CloudWatch publishes a minute once it is over (then the lag).
        data_until = aligned(start, end, period_s)[1]
        last_datapoint = int(data_until) - period_s
    try:
        outcome: Settled = read_when_settled(
            lambda: read_once(cloudwatch, query, global_cloudwatch, period_s=period_s),
            last_minute_end=data_until,
            lag_s=lag_s,
            interval_s=lag.interval_s,
            last_datapoint=last_datapoint,
            timeout_s=query.timeout_s,
            poll_s=max(1.0, min(10.0, lag_s / 6)),
            on_wait=on_wait,
            clock=clock,
            sleep=sleep,
            given_up=given_up,
        )
        figures = figures_of(outcome.figures, query)
    except Exception as error:  # noqa: BLE001 - see docstring
        return {
            "phases": {},
            "run": None,
            "settled": False,
            "notes": [f"{UNAVAILABLE_NOTE}: {error}"],
        }
    for values in [*figures["phases"].values(), figures["run"]]:
        if isinstance(values, dict):
            values["settled"] = outcome.settled
    figures["settled"] = outcome.settled
    figures["waited_s"] = round(outcome.waited_s, 1)
    if not outcome.settled:
        figures["notes"] = [*figures.get("notes", []), _unsettled_note(outcome, query, given_up())]
    return figures


def _unsettled_note(outcome: Settled, query: ServerSideQuery, interrupted: bool) -> str:
    waiting = _metric_names(query, outcome.pending)
    still = f"; still changing or without the run's last minute: {waiting}" if waiting else ""
    if interrupted:
        return (
            f"{UNSETTLED_NOTE}: the wait was interrupted after {outcome.waited_s:.0f}s; "
            f"server-side figures are partial (gameday report --refresh reads them "
            f"again){still}"
        )
    return (
        f"{UNSETTLED_NOTE} after {query.timeout_s:.0f}s: server-side figures are partial "
        f"(gameday report --refresh reads them again){still}"
    )


def _metric_names(query: ServerSideQuery, query_ids: Iterable[str], most: int = 3) -> str:
    """The metrics of some query ids for people: ``AWS/Lambda Errors (orders)``, a few."""
    by_id = {item.query_id: item for item in build_queries(query.targets)}
    named = [
        f"{item.namespace} {item.metric}" + (f" ({item.owner})" if item.owner else "")
        for item in (by_id[query_id] for query_id in query_ids if query_id in by_id)
    ]
    more = f" and {len(named) - most} more" if len(named) > most else ""
    return ", ".join(named[:most]) + more


def run_query(
    experiment: Experiment,
    clock: PhaseClock,
    *,
    clients: AwsClients,
    function_arns: Iterable[str],
    endpoint: str,
    rest_api_id: str | None,
    rule: RateRule | None,
    sandbox: bool,
    emf_faults: bool,
) -> ServerSideQuery | None:
    """What a run's server-side figures are read from (None: the run reads none).

    `function_arns`: the Lambda functions the run changed (or the sandbox's); `emf_faults`:
    a fault emits EMF metrics (they settle later than the standard ones).
    """
    if not reads_server_side_metrics(experiment):
        return None
    windows: dict[str, tuple[float, float]] = {}
    for name in PHASES:
        measured = clock.windows(name)
        if measured:
            windows[name] = (measured[0][0], measured[-1][1])
    api = api_stage_of(clients.client("apigateway"), endpoint, rest_api_id)
    targets = server_side_targets(
        region=clients.region,
        function_arns=[arn for arn in function_arns if arn],
        api=api,
        rule=rule,
        percentiles=not sandbox,  # the sandbox's CloudWatch has no percentiles
    )
    return ServerSideQuery(
        targets,
        windows,
        emf=emf_faults or reads_emf_metrics(experiment),
        timeout_s=experiment.settle_timeout,
        endpoint_url=clients.endpoint_url,
    )


def cloudwatch_in_regions_of(clients: AwsClients) -> CloudWatchIn:
    """CloudWatch clients on `clients`' endpoint and profile: its own in its Region, a new
    one in any other (us-east-1, for a CLOUDFRONT web ACL's metrics)."""

    def cloudwatch_in(region: str) -> Any:
        if region == clients.region:
            return clients.client("cloudwatch")
        return AwsClients(
            region=region, endpoint_url=clients.endpoint_url, profile=clients.profile
        ).client("cloudwatch")

    return cloudwatch_in


def read_settled(
    query: ServerSideQuery,
    lag: CloudWatchLag,
    cloudwatch_in: CloudWatchIn,
    *,
    on_wait: Callable[[str], None] | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    given_up: Callable[[], bool] = lambda: False,
) -> dict[str, Any]:
    """The query's figures once settled (see :func:`read_server_side`), with the query.

    The one reader of the run and of `gameday report --refresh`: the WAF metrics of a
    CLOUDFRONT web ACL are read in us-east-1 when the target's Region is another one.
    """
    global_cloudwatch = (
        cloudwatch_in(CLOUDFRONT_METRICS_REGION)
        if reads_global_waf_metrics(query.targets)
        else None
    )
    figures = read_server_side(
        cloudwatch_in(query.targets.region),
        query,
        lag,
        on_wait,
        global_cloudwatch,
        clock=clock,
        sleep=sleep,
        given_up=given_up,
    )
    figures["query"] = query.to_dict()
    return figures
