"""What the result of a run is assembled from, read off the finished run."""

from __future__ import annotations

from typing import Any

from chaos.aws import AwsClients
from chaos.clock import utc_now
from chaos.faults import FAULT_KINDS
from chaos.metrics.catalog import reads_server_side_metrics
from chaos.metrics.measurement import PHASES
from chaos.metrics.server_side import (
    CLOUDFRONT_METRICS_REGION,
    ServerSideQuery,
    api_stage_of,
    read_server_side,
    server_side_targets,
)
from chaos.outcome import Outcome
from chaos.result.assemble import LoadRecord, RunRecord
from chaos.run.context import RunContext


def run_record(
    context: RunContext, started_at: str, outcome: Outcome, reason: str | None
) -> RunRecord:
    """The explicit inputs of the result, read off the finished run."""
    assert context.journal is not None
    load = context.load
    return RunRecord(
        run_id=context.run_id,
        experiment=context.experiment,
        experiment_path=context.experiment_path,
        sandbox=context.target.sandbox,
        started_at=started_at,
        ended_at=utc_now(),
        outcome=outcome,
        abort_reason=reason,
        phase_times=context.phase_times,
        journal_entries=[entry for entry in context.journal.entries
                         if entry.fault_type in FAULT_KINDS],  # not the janitor's schedule
        load=None if load is None else LoadRecord(
            context.aggregator, load.rule, load.waf_plan, load.abusive_stopped_at),
        server_side=read_server_side_of(context),
        notes=list(context.notes),
        clock=context.aggregator.clock,
    )


def server_side_query(context: RunContext) -> ServerSideQuery | None:
    """What the run's server-side figures are read from (None: not read)."""
    experiment = context.experiment
    if not reads_server_side_metrics(experiment):
        return None
    windows = {}
    for name in PHASES:
        measured = context.aggregator.clock.windows(name)
        if measured:
            windows[name] = (measured[0][0], measured[-1][1])
    clients = context.target.clients
    function_arns = [entry.target_arn for entry in (context.journal.entries
                                                    if context.journal else [])
                     if ":lambda:" in entry.target_arn]
    if context.target.sandbox and not function_arns:
        function_arns = [str(context.target.sandbox_service.get("function_arn", ""))]
    api = api_stage_of(clients.client("apigateway"),
                       context.target.api_endpoint or experiment.target.endpoint or "",
                       context.target.sandbox_service.get("rest_api_id"))
    targets = server_side_targets(
        region=clients.region, function_arns=[arn for arn in function_arns if arn], api=api,
        rule=context.load.rule if context.load else None,
        percentiles=not context.target.sandbox,  # the sandbox's CloudWatch has no percentiles
    )
    emf = any(spec.type == "lambda-extension" for spec in experiment.faults) or any(
        check.sli in ("injected_faults", "injection_cold_starts") for check in experiment.slo)
    return ServerSideQuery(targets, windows, emf=emf, timeout_s=experiment.settle_timeout,
                           endpoint_url=clients.endpoint_url)


def read_server_side_of(context: RunContext) -> dict[str, Any] | None:
    """The run's CloudWatch figures per measured phase window, once settled."""
    query = server_side_query(context)
    if query is None:
        return None
    clients = context.target.clients
    global_cloudwatch = None
    if query.targets.waf_scope == "CLOUDFRONT" and clients.region != CLOUDFRONT_METRICS_REGION:
        global_cloudwatch = AwsClients(region=CLOUDFRONT_METRICS_REGION,
                                       endpoint_url=clients.endpoint_url,
                                       profile=clients.profile).client("cloudwatch")
    figures = read_server_side(
        clients.client("cloudwatch"), query, context.target.cloudwatch_lag,
        on_wait=lambda text: context.events.message.fire(text=text),
        global_cloudwatch=global_cloudwatch)
    figures["query"] = query.to_dict()
    return figures
